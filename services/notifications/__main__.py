from services.notifications.app import DEFINITION
from services.notifications.settings import NotificationsSettings
from shared.service import serve

serve(DEFINITION, NotificationsSettings())
