from services.registry.app import DEFINITION
from services.registry.settings import RegistrySettings
from shared.service import serve

serve(DEFINITION, RegistrySettings())
