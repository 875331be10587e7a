/** `{ type, sdp }` as produced by `RTCPeerConnection.createOffer/createAnswer`. */
export interface SessionDescription {
  type: string;
  sdp: string;
}

/** `RTCIceCandidateInit`, or the bare candidate line. */
export type IceCandidate =
  | string
  | {
      candidate: string;
      sdpMid?: string | null;
      sdpMLineIndex?: number | null;
      usernameFragment?: string | null;
    };

export interface OfferPayload {
  targetPeerId: string;
  offer: SessionDescription;
}

export interface AnswerPayload {
  targetPeerId: string;
  answer: SessionDescription;
}

export interface IcePayload {
  targetPeerId: string;
  candidate: IceCandidate;
}

/** Any of the three relays; the relayed copy adds `fromPeerId`. */
export type RelayPayload = OfferPayload | AnswerPayload | IcePayload;
export type RelayedPayload = RelayPayload & { fromPeerId: string };
