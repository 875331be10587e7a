// Differences between the gateway and the reference that docs/WIRE-DETAILS.md
// lists ("Known differences from the reference"), and others' open findings.
// The generator leaves these inputs out unless asked for them with
// `--include NAME` (then the fuzzer reports them like any divergence).

export const KNOWN = {
  'odd-event-names': {
    what: 'event names that are numbers or need JSON escapes (`"`, `\\`, control characters, lone surrogates)',
    why: 'docs/WIRE-DETAILS.md, "Known differences from the reference": the gateway\'s Socket.IO library reads the event name as an unescaped string and closes the connection; socket.io ignores the unknown event',
  },
  'relayed-lone-surrogates': {
    what: 'lone surrogates inside relayed values (keys of offer/answer/candidate objects that the gateway does not read)',
    why: 'docs/WIRE-DETAILS.md, "Known differences from the reference": the gateway refuses a relayed value that is not strict JSON (INVALID_PAYLOAD); the reference relays it',
  },
  'relayed-deep-values': {
    what: 'relayed values (offer/answer/candidate) nested past serde_json\'s limit (the payload more than 128 levels deep)',
    why: 'docs/WIRE-DETAILS.md, "Known differences from the reference": the gateway refuses them (INVALID_PAYLOAD, before NOT_IN_ROOM like every payload check); the reference relays them or answers NOT_IN_ROOM / PEER_NOT_FOUND',
  },
  'long-target-ids': {
    what: 'a relay\'s targetPeerId longer than 128 bytes',
    why: 'docs/WIRE-DETAILS.md, "Known differences from the reference": the gateway refuses it (INVALID_PAYLOAD, before NOT_IN_ROOM); the reference answers NOT_IN_ROOM or PEER_NOT_FOUND',
  },
};
