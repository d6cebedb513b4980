import pytest


@pytest.mark.timeout(10)
def test_submit_returns_the_call_result(impl):
    with impl.ThreadPool(2) as pool:
        assert pool.submit(pow, 2, 10).result() == 1024
