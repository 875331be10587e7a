-- count() -> live rooms
return redis.call('ZCOUNT', ROOMS, '(' .. now_ms(), '+inf')
