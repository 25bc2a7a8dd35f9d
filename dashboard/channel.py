"""What the bridge and the web processes agree on: rooms, the message queue and shared keys.

Both processes import these names, so the two sides of the live channel cannot drift apart.
"""

# Flask-SocketIO listens on its own channel of our Redis, not python-socketio's default.
MESSAGE_QUEUE_CHANNEL = "flask-socketio"

HEARTBEAT_KEY = "bridge:heartbeat"  # written by the bridge, read by the web for the badge
HEARTBEAT_EVERY = 2.0  # seconds; the web says "Paused" after a few missed beats
LEADER_KEY = "bridge:leader"  # which bridge stores and sends events (the others stand by)
ROOMS_KEY = "live:rooms"  # outlet -> when a browser last subscribed: whom to resync
STATS_KEY = "bridge:stats"  # events the bridge saw, by outcome or reason, for /metrics
QUIET_COUNT_KEY = "bridge:quiet_outlets"  # how many outlets are marked quiet, for /metrics
RECONCILES_KEY = "bridge:reconciles"  # re-reads of Frappe's figures: changed, same, failed
# Seconds from Frappe's commit (a sale's timestamp) to the bridge's emit, counted per bucket by
# the bridge and shown as a histogram by /metrics.
LATENCY_KEY = "bridge:latency"
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Server to client: Frappe's figures of today, re-read after a rush (see reconcile.py).
FIGURES_EVENT = "figures"
RESYNC_EVENT = "resync"
# Server to client: an outlet has gone quiet ({"since", "usual_gap_s"}) or is not any more (None).
QUIET_EVENT = "quiet"


def quiet_key(outlet: str) -> str:
    """The outlet's quiet mark, written by the bridge (quiet.py), read by the web."""
    return f"quiet:{outlet}"


def outlet_room(outlet: str) -> str:
    """Managers and full displays of one outlet."""
    return f"outlet:{outlet}"


def public_room(outlet: str) -> str:
    """Customer-facing displays of one outlet: their events never carry amounts."""
    return f"public:{outlet}"
