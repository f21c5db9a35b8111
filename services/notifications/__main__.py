from services.notifications.app import DEFINITION
from shared.service import serve

serve(DEFINITION)
