/* queue_backend.h - not yet written */
