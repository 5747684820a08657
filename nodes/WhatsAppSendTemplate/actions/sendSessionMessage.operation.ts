import { NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { buildSessionMessage } from '../../../core';
import { runSendOperation } from './common';
import type { BinaryUploader } from './common';
import type { ParameterReader } from '../../shared/parameters';

interface ButtonEntry {
  id?: string;
  title?: string;
}
interface RowEntry extends ButtonEntry {
  description?: string;
  section?: string;
}

/** Builds the Cloud API message (Meta's shape, before "to") from the node's fields for one item. */
async function messageFor(ctx: IExecuteFunctions, param: ParameterReader, itemIndex: number, uploader: BinaryUploader): Promise<unknown> {
  const type = param<string>('messageType', itemIndex, 'text');
  const text = param<string>('text', itemIndex, '');
  switch (type) {
    case 'text':
      return { type: 'text', text: { body: text, preview_url: /https?:\/\//.test(text) } };
    case 'image':
    case 'video':
    case 'audio':
    case 'document': {
      const media = param<string>('media', itemIndex, '').trim();
      const binaryProperty = param<string>('binaryProperty', itemIndex, '').trim();
      let ref: IDataObject;
      if (media) ref = /^\d+$/.test(media) ? { id: media } : { link: media };
      else if (binaryProperty) ref = { id: await uploader.mediaId(itemIndex, binaryProperty) };
      else throw new Error(`Media is empty: give a link or media ID, or the Binary Property holding the ${type}`);
      const caption = type === 'audio' ? '' : param<string>('caption', itemIndex, '');
      if (caption) ref.caption = caption;
      return { type, [type]: ref };
    }
    case 'buttons': {
      const buttons = (param<IDataObject>('buttons', itemIndex, {}).button ?? []) as ButtonEntry[];
      return {
        type: 'interactive',
        interactive: {
          type: 'button',
          body: { text },
          action: { buttons: buttons.map((b) => ({ type: 'reply', reply: { id: b.id ?? '', title: b.title ?? '' } })) },
        },
      };
    }
    case 'list': {
      const rows = (param<IDataObject>('rows', itemIndex, {}).row ?? []) as RowEntry[];
      const sections = new Map<string, Array<{ id: string; title: string; description?: string }>>();
      for (const row of rows) {
        const key = row.section ?? '';
        if (!sections.has(key)) sections.set(key, []);
        sections.get(key)!.push({ id: row.id ?? '', title: row.title ?? '', ...(row.description ? { description: row.description } : {}) });
      }
      return {
        type: 'interactive',
        interactive: {
          type: 'list',
          body: { text },
          action: {
            button: param<string>('listButton', itemIndex, 'Choose'),
            sections: [...sections.entries()].map(([title, sectionRows]) => ({ ...(title ? { title } : {}), rows: sectionRows })),
          },
        },
      };
    }
    default: {
      const raw = param<unknown>('messageJson', itemIndex, '{}');
      if (typeof raw !== 'string') return raw;
      try {
        return JSON.parse(raw);
      } catch (error) {
        throw new NodeOperationError(ctx.getNode(), `Message (JSON) is not valid JSON: ${(error as Error).message}`, { itemIndex });
      }
    }
  }
}

export async function sendSessionMessage(ctx: IExecuteFunctions): Promise<INodeExecutionData[][]> {
  return runSendOperation(ctx, async (itemIndex, _recipient, { uploader, param }) => {
    const message = buildSessionMessage(await messageFor(ctx, param, itemIndex, uploader));
    return { message, summary: { type: message.type } };
  });
}
