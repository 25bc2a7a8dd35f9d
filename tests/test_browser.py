"""A manager in Chromium: log in, see the outlets, log out (gunicorn + eventlet, as deployed)."""

import re

from playwright.sync_api import expect


def test_login_see_outlets_logout(page, web_server):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(web_server + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
    page.fill("input[name=usr]", "manager1@example.com")
    page.fill("input[name=pwd]", "wrong password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Invalid login credentials")

    page.fill("input[name=pwd]", "manager1")
    page.click("button[type=submit]")
    expect(page.get_by_role("heading", name="Your outlets")).to_be_visible()
    rows = page.locator("tr[data-outlet]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Downtown Outlet")
    expect(page.get_by_test_id("who")).to_have_text("Manager One")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert set(cookies) == {"fd_session"} and cookies["fd_session"]["httpOnly"]

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You have logged out.")
    expect(page.locator("input[name=usr]")).to_be_visible()
    page.goto(web_server + "/")
    expect(page).to_have_url(re.compile(r"/login"))
    assert dialogs == []
