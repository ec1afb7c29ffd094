/**
 * QMP errors: `{"error": {"class": C, "desc": D}}`. QEMU still sends these few classes;
 * everything new is GenericError, so pmemvm uses the others only where QEMU does.
 */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotFound' | 'DeviceNotActive' | 'KVMMissingCap';

/** Thrown by handlers and MachineControl; the session turns it into an error reply. */
export class QmpError extends Error {
  override name = 'QmpError';
  constructor(readonly errorClass: QmpErrorClass, readonly desc: string) {
    super(desc);
  }
}

export const genericError = (desc: string) => new QmpError('GenericError', desc);

/** QEMU's texts for the errors the monitor itself raises (qapi/qmp-dispatch.c, qobject-input-visitor.c). */
export const QMP_TEXT = {
  notObject: 'QMP input must be a JSON object',
  executeNotString: "QMP input member 'execute' must be a string",
  lacksExecute: "QMP input lacks member 'execute'",
  argumentsNotObject: "QMP input member 'arguments' must be an object",
  memberUnexpected: (m: string) => `QMP input member '${m}' is unexpected`,
  commandNotFound: (c: string) => `The command ${c} has not been found`,
  needCapabilities: "Expecting capabilities negotiation with 'qmp_capabilities'",
  capabilitiesDone: 'Capabilities negotiation is already complete, command ignored',
  paramUnexpected: (p: string) => `Parameter '${p}' is unexpected`,
  paramMissing: (p: string) => `Parameter '${p}' is missing`,
  paramType: (p: string, type: string) => `Invalid parameter type for '${p}', expected: ${type}`,
  deviceNotFound: (id: string) => `Device '${id}' not found`,
  objectNotFound: (id: string) => `object '${id}' not found`,
} as const;
