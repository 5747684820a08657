import { NodeOperationError } from 'n8n-workflow';
import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import * as downloadMedia from './downloadMedia.operation';
import * as markAsRead from './markAsRead.operation';
import * as sendAndWait from './sendAndWait.operation';
import * as sendSessionMessage from './sendSessionMessage.operation';
import * as sendTemplate from './sendTemplate.operation';

const operations = { sendTemplate, sendSessionMessage, sendAndWait, downloadMedia, markAsRead };

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const operation = this.getNodeParameter('operation', 0) as keyof typeof operations;
	if (!Object.hasOwn(operations, operation))
		throw new NodeOperationError(this.getNode(), `The operation "${operation}" is not known`);
	return operations[operation].execute.call(this);
}
