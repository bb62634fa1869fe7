import pytest

from . import world as world_module


@pytest.fixture
def world(db):
    return world_module.build()


@pytest.fixture
def login(client):
    def sign_in(username: str):
        assert client.login(username=username, password=world_module.PASSWORD)
        return client
    return sign_in
