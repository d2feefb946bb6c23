export * from './types.ts';
export { DimseServer, defaultTransferSyntax, errorToResult } from './server.ts';
export {
  connect,
  pickContext,
  storageContexts,
  AssociationRejectedError,
  ClientAssociation,
} from './client.ts';
export type {
  ClientTimeouts,
  ConnectOptions,
  ContextProposal,
  NegotiatedContext,
  RetrieveStatus,
  StoreHandler,
  StoreParams,
} from './client.ts';
export {
  AssociationEndedError,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
} from './upper-layer.ts';
export { CommandField, Priority, encodeCommand, decodeCommand } from './command.ts';
export type { Command } from './command.ts';
export { ApplicationContextName, SopClass, TransferSyntax, serviceKind } from './uids.ts';
export type { ServiceKind } from './uids.ts';
export { encodeFailedUidList, readFailedUidList } from './identifier.ts';
