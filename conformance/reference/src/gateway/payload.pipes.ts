import { Injectable, PipeTransform } from '@nestjs/common';
import type {
  AnswerPayload,
  CreateRoomPayload,
  IcePayload,
  JoinRoomPayload,
  MediaStatePayload,
  OfferPayload,
  SessionDescription,
} from './interfaces/index.js';
import { ROOM_CODE_PATTERN } from './rooms.service.js';
import { SignalingException } from './signaling.exception.js';

/** docs/PROTOCOL.md §3: SDP ≤ 64 KiB, candidate ≤ 4 KiB (UTF-8 bytes). */
export const MAX_SDP_BYTES = 65_536;
export const MAX_CANDIDATE_BYTES = 4_096;

type Json = Record<string, unknown>;

const invalid = (message: string) => SignalingException.invalidPayload(message);

/**
 * A string a strict JSON reader can read: no lone surrogate (JSON.parse lets
 * `"\ud800"` through; docs/WIRE-DETAILS.md makes it unreadable in a field the
 * event reads, as it is for serde).
 */
function isString(value: unknown): value is string {
  return typeof value === 'string' && !LONE_SURROGATE.test(value);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function objectPayload(value: unknown): Json {
  if (!isObject(value)) throw invalid('payload must be an object');
  return value;
}

function checkRoomCode(value: unknown): string {
  if (typeof value !== 'string' || !ROOM_CODE_PATTERN.test(value)) {
    throw invalid('roomCode must be 1-64 characters of [A-Za-z0-9_-]');
  }
  return value;
}

function checkTarget(body: Json): void {
  if (!isString(body.targetPeerId) || body.targetPeerId.length === 0) {
    throw invalid('targetPeerId must be a non-empty string');
  }
}

function checkDescription(field: 'offer' | 'answer', value: unknown): SessionDescription {
  if (!isObject(value) || !isString(value.type) || !isString(value.sdp)) {
    throw invalid(`${field} must be an object with string type and sdp`);
  }
  if (Buffer.byteLength(value.sdp, 'utf8') > MAX_SDP_BYTES) {
    throw invalid(`${field}.sdp must be at most ${MAX_SDP_BYTES} bytes`);
  }
  return value as unknown as SessionDescription;
}

function isOptional(value: unknown, check: (v: unknown) => boolean): boolean {
  return value === undefined || value === null || check(value);
}

/** RTCIceCandidateInit's `sdpMLineIndex` is a WebIDL `unsigned short`. */
function isUnsignedShort(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65_535;
}

function checkCandidate(value: unknown): void {
  const line = typeof value === 'string' ? value : isObject(value) ? value.candidate : undefined;
  if (!isString(line)) {
    throw invalid('candidate must be a string or an RTCIceCandidateInit object');
  }
  if (Buffer.byteLength(line, 'utf8') > MAX_CANDIDATE_BYTES) {
    throw invalid(`candidate must be at most ${MAX_CANDIDATE_BYTES} bytes`);
  }
  if (isObject(value)) {
    const ok =
      isOptional(value.sdpMid, isString) &&
      isOptional(value.sdpMLineIndex, isUnsignedShort) &&
      isOptional(value.usernameFragment, isString);
    if (!ok) {
      throw invalid('candidate.sdpMid, sdpMLineIndex and usernameFragment have wrong types');
    }
  }
}

@Injectable()
export class CreateRoomPipe implements PipeTransform<unknown, CreateRoomPayload> {
  transform(value: unknown): CreateRoomPayload {
    // A missing payload counts as {}.
    const body = value === undefined || value === null ? {} : objectPayload(value);
    if (body.roomCode !== undefined) checkRoomCode(body.roomCode);
    if (
      body.maxPeers !== undefined &&
      !(typeof body.maxPeers === 'number' && Number.isInteger(body.maxPeers) && body.maxPeers >= 1)
    ) {
      throw invalid('maxPeers must be an integer >= 1');
    }
    return body as CreateRoomPayload;
  }
}

@Injectable()
export class JoinRoomPipe implements PipeTransform<unknown, JoinRoomPayload> {
  transform(value: unknown): JoinRoomPayload {
    const body = objectPayload(value);
    checkRoomCode(body.roomCode);
    return body as unknown as JoinRoomPayload;
  }
}

@Injectable()
export class OfferPipe implements PipeTransform<unknown, OfferPayload> {
  transform(value: unknown): OfferPayload {
    const body = objectPayload(value);
    checkTarget(body);
    checkDescription('offer', body.offer);
    return body as unknown as OfferPayload;
  }
}

@Injectable()
export class AnswerPipe implements PipeTransform<unknown, AnswerPayload> {
  transform(value: unknown): AnswerPayload {
    const body = objectPayload(value);
    checkTarget(body);
    checkDescription('answer', body.answer);
    return body as unknown as AnswerPayload;
  }
}

@Injectable()
export class IcePipe implements PipeTransform<unknown, IcePayload> {
  transform(value: unknown): IcePayload {
    const body = objectPayload(value);
    checkTarget(body);
    checkCandidate(body.candidate);
    return body as unknown as IcePayload;
  }
}

@Injectable()
export class MediaStatePipe implements PipeTransform<unknown, MediaStatePayload> {
  transform(value: unknown): MediaStatePayload {
    const body = objectPayload(value);
    if (typeof body.isVideoEnabled !== 'boolean' || typeof body.isAudioEnabled !== 'boolean') {
      throw invalid('isVideoEnabled and isAudioEnabled must be booleans');
    }
    return body as unknown as MediaStatePayload;
  }
}
