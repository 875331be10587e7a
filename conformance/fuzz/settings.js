// The settings both targets run with in a fuzz run: a deterministic event
// budget (no refill, so RATE_LIMITED does not depend on timing) and a small
// engine limit, so that big messages cross it cheaply.
export const SETTINGS = {
  RATE_LIMIT_BURST: '100',
  RATE_LIMIT_PER_SEC: '0',
  MAX_PAYLOAD: '100000',
};
