// The settings both targets run with in a fuzz run (`--profile NAME`). Every
// profile has a deterministic event budget (no refill, so RATE_LIMITED does not
// depend on timing) and a small engine limit, so big messages cross it cheaply.
const BASE = {
  RATE_LIMIT_BURST: '100',
  RATE_LIMIT_PER_SEC: '0',
  MAX_PAYLOAD: '100000',
  // Room caps are the gateway's alone (the reference has none; their tests are
  // gateway-only): beyond what a long run creates, rooms living ROOM_TTL.
  MAX_ROOMS: '100000000',
  MAX_ROOMS_PER_USER: '100000000',
  // Likewise the gateway's handshake throttle: a run refuses hundreds of
  // handshakes from its one address, past which the throttle would refuse
  // good ones too.
  HANDSHAKE_MAX_FAILURES_PER_ADDRESS: '100000000',
};

export const PROFILES = {
  /** The defaults otherwise. */
  default: BASE,
  /** Small rooms (ROOM_FULL with sfuUrl), rooms made by join:room, errors on two events. */
  compat: {
    ...BASE,
    MAX_ROOM_SIZE: '3',
    SFU_URL: 'https://sfu.example.test',
    AUTO_CREATE_ROOMS: 'true',
    ERROR_EVENT: 'error,exception',
  },
  /** The incumbent's handshake refusal: connect, UNAUTHORIZED, disconnect. */
  'auth-event': {
    ...BASE,
    AUTH_FAILURE: 'event',
    ERROR_EVENT: 'error,exception',
  },
};

/** The error events of a profile: replies, like acks (see observe.js). */
export function errorEvents(settings) {
  return (settings.ERROR_EVENT ?? 'error').split(',').map((e) => e.trim());
}
