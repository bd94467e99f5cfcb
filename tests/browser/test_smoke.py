"""The browser fixtures themselves: Chromium loads a page of the live server."""


def test_login_page_loads_in_chromium(live, new_page, screenshots):
    page = new_page()
    response = page.goto(live.url("/account/login"))
    assert response.status == 200
    assert page.locator("input[name=login]").count() == 1
    page.screenshot(path=screenshots / "login.png")
    assert (screenshots / "login.png").stat().st_size > 1000
