/** `media:state` (client → server). */
export interface MediaStatePayload {
  isVideoEnabled: boolean;
  isAudioEnabled: boolean;
}

/** `media:state_changed` (server → the other peers). */
export interface MediaStateChangedPayload extends MediaStatePayload {
  peerId: string;
}

/** `pong` (server → client). */
export interface PongPayload {
  timestamp: string;
}

/** Acknowledgement of relays, `leave:room` and `media:state`. */
export interface OkAck {
  ok: true;
}
