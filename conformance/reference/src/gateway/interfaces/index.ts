export * from './user-info.interface.js';
export * from './room.interface.js';
export * from './signaling.interface.js';
export * from './media.interface.js';
export * from './error.interface.js';
