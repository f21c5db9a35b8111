from services.funding.app import DEFINITION
from shared.service import serve

serve(DEFINITION)
