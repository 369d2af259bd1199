//! Descriptions are Markdown written by event-type owners — untrusted text. They are rendered
//! with every piece of raw HTML shown as text, images turned into links (the policy would
//! block foreign images anyway), and links only to `http`, `https`, `mailto` or this site;
//! any other scheme (`javascript:`, `data:`, `vbscript:` …) becomes a dead `#` link.

use maud::{Markup, PreEscaped};
use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// `text` as HTML, safe to put into a page.
pub(crate) fn render(text: &str) -> Markup {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            dest_url,
            title,
            id,
            ..
        }) => Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: safe_url(dest_url),
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    PreEscaped(out)
}

/// The first paragraph of `text` (headings skipped) as plain text, at most `max` characters:
/// what listings show of a description.
pub(crate) fn summary(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut in_paragraph = false;
    for event in Parser::new(text) {
        match event {
            Event::Start(Tag::Paragraph) => in_paragraph = true,
            Event::End(TagEnd::Paragraph) if in_paragraph => break,
            Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) | Event::Html(t)
                if in_paragraph =>
            {
                out.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak if in_paragraph => out.push(' '),
            _ => {}
        }
        if out.len() > max * 4 {
            break;
        }
    }
    super::format::clip(&out, max)
}

fn safe_url(url: pulldown_cmark::CowStr<'_>) -> pulldown_cmark::CowStr<'_> {
    if is_safe(&url) {
        url
    } else {
        pulldown_cmark::CowStr::Borrowed("#")
    }
}

/// A URL with an allowed scheme, or none at all (relative, fragment). Browsers ignore ASCII
/// whitespace and control characters inside a scheme, so those make a URL unsafe too.
fn is_safe(url: &str) -> bool {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let scheme_end = url.find(':');
    let path_start = url.find(['/', '?', '#']);
    match (scheme_end, path_start) {
        (None, _) => true,
        (Some(colon), Some(slash)) if slash < colon => true,
        (Some(colon), _) => {
            let scheme = url[..colon].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html_of(text: &str) -> String {
        render(text).into_string()
    }

    #[test]
    fn markdown_becomes_html() {
        let out = html_of("# Orders\n\nOne **order** per `checkout`.\n\n- a\n- b");
        assert!(out.contains("<h1>Orders</h1>"), "{out}");
        assert!(out.contains("<strong>order</strong>"), "{out}");
        assert!(out.contains("<code>checkout</code>"), "{out}");
        assert!(out.contains("<li>a</li>"), "{out}");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        let out = html_of("<script>alert(1)</script>\n\nhi <img src=x onerror=alert(2)> there");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(
            out.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{out}"
        );
        assert!(out.contains("&lt;img src=x onerror=alert(2)&gt;"), "{out}");
    }

    #[test]
    fn dangerous_links_are_dead() {
        for url in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
            "vbscript:msgbox",
        ] {
            let out = html_of(&format!("[x](<{url}>)"));
            // A dead link, or no link at all — never one to the URL.
            let hrefs: Vec<&str> = out.split("href=\"").skip(1).collect();
            assert!(hrefs.iter().all(|h| h.starts_with("#\"")), "{url}: {out}");
            assert!(
                !out.contains("<a href=\"java") && !out.contains("<a href=\"data"),
                "{out}"
            );
        }
        let out = html_of("![logo](javascript:alert(1))");
        assert!(out.contains("href=\"#\""), "{out}");
        assert!(!out.contains("<img"), "{out}");
    }

    #[test]
    fn summaries_are_the_first_paragraph_as_text() {
        let text = "# Title\n\nThe **first** `para_graph` with window.__xss and <b>tags</b>\nwrapped.\n\nSecond.";
        assert_eq!(
            summary(text, 100),
            "The first para_graph with window.__xss and <b>tags</b> wrapped."
        );
        assert_eq!(summary("# Only a heading", 10), "");
        assert_eq!(summary("abcdef", 3), "abc…");
    }

    #[test]
    fn ordinary_links_stay() {
        for url in [
            "https://example.com/a?b=c",
            "http://x",
            "mailto:team@example.com",
            "/ui/types/orders.placed",
            "#fields",
            "docs/a:b",
        ] {
            let out = html_of(&format!("[x]({url})"));
            assert!(
                !out.contains("href=\"#\"") || url == "#fields",
                "{url}: {out}"
            );
        }
        assert!(html_of("[x](https://e.com/\"onmouseover=\"x)").contains("%22"));
    }
}
