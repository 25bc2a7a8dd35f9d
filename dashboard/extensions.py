"""Flask extensions, created unbound here and bound to the app in create_app()."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_session import Session
from flask_socketio import SocketIO
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address)
server_session = Session()
socketio = SocketIO()
