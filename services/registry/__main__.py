from services.registry.app import DEFINITION
from shared.service import serve

serve(DEFINITION)
