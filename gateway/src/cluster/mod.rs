//! A cluster of gateways over Redis (PROTOCOL.md §8): with `REDIS_URL` set, rooms
//! live in the shared [`RedisRooms`](crate::rooms::redis::RedisRooms) registry and
//! room events travel through the Socket.IO Redis adapter, so any node serves
//! any client. Without it nothing here runs.

pub mod adapter;
pub mod redis;
