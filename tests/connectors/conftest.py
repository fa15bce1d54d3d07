"""A Pulseway stand-in and a connector to it, for every connector test that needs one."""

import pytest

from connectors.models import Connector
from tests.connectors.pulseway_standin import TOKEN_ID, TOKEN_SECRET, PulsewayStandIn, sample_data


@pytest.fixture
def pulseway():
    stand_in = PulsewayStandIn(sample_data())
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def pulseway_connector(pulseway):
    return Connector.objects.create(name="Pulseway", base_url=pulseway.url, token_id=TOKEN_ID,
                                    token_secret=TOKEN_SECRET)
