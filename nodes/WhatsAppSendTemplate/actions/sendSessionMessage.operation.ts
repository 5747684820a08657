import { NodeOperationError } from 'n8n-workflow';
import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { buildSessionMessage } from '../../../core';
import { runSendOperation } from './common';
import type { BinaryUploader } from './common';

interface ButtonEntry {
  id?: string;
  title?: string;
}
interface RowEntry extends ButtonEntry {
  description?: string;
  section?: string;
}

/** Builds the Cloud API message (Meta's shape, before "to") from the node's fields for one item. */
async function messageFor(ctx: IExecuteFunctions, itemIndex: number, uploader: BinaryUploader): Promise<unknown> {
  const type = ctx.getNodeParameter('messageType', itemIndex, 'text') as string;
  const text = ctx.getNodeParameter('text', itemIndex, '') as string;
  switch (type) {
    case 'text':
      return { type: 'text', text: { body: text, preview_url: /https?:\/\//.test(text) } };
    case 'image':
    case 'video':
    case 'audio':
    case 'document': {
      const media = (ctx.getNodeParameter('media', itemIndex, '') as string).trim();
      const binaryProperty = (ctx.getNodeParameter('binaryProperty', itemIndex, '') as string).trim();
      let ref: IDataObject;
      if (media) ref = /^\d+$/.test(media) ? { id: media } : { link: media };
      else if (binaryProperty) ref = { id: await uploader.mediaId(itemIndex, binaryProperty) };
      else throw new Error(`Media is empty: give a link or media ID, or the Binary Property holding the ${type}`);
      const caption = type === 'audio' ? '' : (ctx.getNodeParameter('caption', itemIndex, '') as string);
      if (caption) ref.caption = caption;
      return { type, [type]: ref };
    }
    case 'buttons': {
      const buttons = ((ctx.getNodeParameter('buttons', itemIndex, {}) as IDataObject).button ?? []) as ButtonEntry[];
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
      const rows = ((ctx.getNodeParameter('rows', itemIndex, {}) as IDataObject).row ?? []) as RowEntry[];
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
            button: ctx.getNodeParameter('listButton', itemIndex, 'Choose') as string,
            sections: [...sections.entries()].map(([title, sectionRows]) => ({ ...(title ? { title } : {}), rows: sectionRows })),
          },
        },
      };
    }
    default: {
      const raw = ctx.getNodeParameter('messageJson', itemIndex, '{}');
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
  return runSendOperation(ctx, async (itemIndex, _recipient, { uploader }) => {
    const message = buildSessionMessage(await messageFor(ctx, itemIndex, uploader));
    return { message, summary: { type: message.type } };
  });
}
