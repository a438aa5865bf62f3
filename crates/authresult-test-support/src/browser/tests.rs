//! Unit tests of the page scraping and the cookie jar.

use super::*;

fn page(body: &str) -> Page {
    Page {
        status: 200,
        location: None,
        body: body.to_owned(),
    }
}

#[test]
fn pages_are_scraped_like_the_readme_says() {
    let p = page(
        r#"<body data-page="device-confirm">
<form method="post" action="http://127.0.0.1:1/plain/interaction/a/abort">
<form method="post" action="http://127.0.0.1:1/plain/device?x=1&amp;y=2">
<input type="hidden" name="xsrf" value="a&quot;b">
<p class="error" id="error">invalid user code</p>"#,
    );
    assert_eq!(p.page_id(), Some("device-confirm"));
    assert_eq!(p.hidden("xsrf").as_deref(), Some("a\"b"));
    assert_eq!(
        p.form_action("/abort").as_deref(),
        Some("http://127.0.0.1:1/plain/interaction/a/abort")
    );
    assert_eq!(
        p.form_action("y=2").as_deref(),
        Some("http://127.0.0.1:1/plain/device?x=1&y=2")
    );
    assert_eq!(p.error_text(), "invalid user code");
}

#[test]
fn cookies_honour_their_path() -> anyhow::Result<()> {
    let mut browser = Browser::new(Url::parse("http://127.0.0.1:1")?)?;
    browser.cookies = vec![
        Cookie {
            name: "_session".into(),
            value: "s".into(),
            path: "/".into(),
        },
        Cookie {
            name: "_interaction".into(),
            value: "i".into(),
            path: "/plain/interaction/abc".into(),
        },
    ];
    let header = |path: &str| -> anyhow::Result<String> {
        Ok(browser.cookie_header(&Url::parse(&format!("http://127.0.0.1:1{path}"))?))
    };
    assert_eq!(
        header("/plain/interaction/abc/login")?,
        "_session=s; _interaction=i"
    );
    assert_eq!(header("/plain/interaction/abcd")?, "_session=s");
    assert_eq!(header("/plain/auth/abc")?, "_session=s");
    Ok(())
}
