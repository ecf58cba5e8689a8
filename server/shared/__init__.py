"""State that several server processes must share to enforce one set of limits.

One process keeps it in memory; workers and instances (MODELPROXY_REDIS_URL) keep it in
Redis. The gateway and the admin API receive it from the factory; they do not build it.
"""
