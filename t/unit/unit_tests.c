/*
 * Unit tests for the module's plain C parts (no nginx), printing TAP.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_trigger_sign.h"
#include "ngx_http_trigger_event.h"
#include "ngx_http_trigger_offer.h"
#include "ngx_http_trigger_html.h"
#include "ngx_http_trigger_template.h"
#include "unit.h"


static int  tests;
static int  failed;


void
ok(int cond, const char *name)
{
    tests++;

    if (!cond) {
        failed++;
    }

    printf("%sok %d - %s\n", cond ? "" : "not ", tests, name);
}


#define S(s)  (const u_char *) (s), sizeof(s) - 1


static void
test_base64url(void)
{
    u_char  out[64];
    size_t  n;

    n = ngx_http_trigger_base64url(out, S("foobar"));
    ok(n == 8 && memcmp(out, "Zm9vYmFy", 8) == 0, "base64url of 6 bytes");

    n = ngx_http_trigger_base64url(out, S("fo"));
    ok(n == 3 && memcmp(out, "Zm8", 3) == 0, "base64url unpadded");

    n = ngx_http_trigger_base64url(out, (const u_char *) "\xfb\xff", 2);
    ok(n == 3 && memcmp(out, "-_8", 3) == 0, "base64url alphabet");
}


static void
test_hmac(void)
{
    u_char         mac[32];
    int            i;
    char           hex[65];
    static u_char  key[20], long_key[131];

    /* RFC 4231, test case 1 */
    memset(key, 0x0b, sizeof(key));
    ngx_http_trigger_hmac_sha256(mac, key, sizeof(key), S("Hi There"));

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", mac[i]);
    }

    ok(strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2"
                   "e32cff7") == 0, "HMAC-SHA256 matches RFC 4231");

    /* the same key again: the cached digest states */
    ngx_http_trigger_hmac_sha256(mac, key, sizeof(key), S("Hi There"));

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", mac[i]);
    }

    ok(strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2"
                   "e32cff7") == 0, "HMAC-SHA256 with the cached key");

    /* RFC 4231, test case 6: a 131-byte key */
    memset(long_key, 0xaa, sizeof(long_key));
    ngx_http_trigger_hmac_sha256(mac, long_key, sizeof(long_key),
        S("Test Using Larger Than Block-Size Key - Hash Key First"));

    for (i = 0; i < 32; i++) {
        sprintf(hex + 2 * i, "%02x", mac[i]);
    }

    ok(strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f"
                   "0ee37f54") == 0, "HMAC-SHA256 with a key over 64 bytes");
}


static void
test_sha1(void)
{
    u_char  hex[40];

    ngx_http_trigger_sha1_hex(hex, S("abc"));
    ok(memcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d", 40) == 0,
       "SHA1 hex for script digests");
}


static void
test_cookie(void)
{
    u_char  a[NGX_HTTP_TRIGGER_COOKIE_LEN], b[NGX_HTTP_TRIGGER_COOKIE_LEN];
    u_char  forged[NGX_HTTP_TRIGGER_COOKIE_LEN];

    ok(ngx_http_trigger_cookie_new(a, S("secret-secret-1234")) == 0,
       "new cookie");
    ok(ngx_http_trigger_cookie_new(b, S("secret-secret-1234")) == 0,
       "another cookie");
    ok(memcmp(a, b, NGX_HTTP_TRIGGER_VID_LEN) != 0, "ids are random");
    ok(a[NGX_HTTP_TRIGGER_VID_LEN] == '.', "id and mac separated by a dot");

    ok(ngx_http_trigger_cookie_valid(a, sizeof(a), S("secret-secret-1234")),
       "own cookie is valid");
    ok(!ngx_http_trigger_cookie_valid(a, sizeof(a), S("other-secret-12345")),
       "cookie of another key is refused");

    memcpy(forged, a, sizeof(a));
    forged[0] = forged[0] == 'A' ? 'B' : 'A';
    ok(!ngx_http_trigger_cookie_valid(forged, sizeof(forged),
                                      S("secret-secret-1234")),
       "changed id is refused");

    memcpy(forged, a, sizeof(a));
    forged[sizeof(forged) - 1] ^= 1;
    ok(!ngx_http_trigger_cookie_valid(forged, sizeof(forged),
                                      S("secret-secret-1234")),
       "changed mac is refused");

    ok(!ngx_http_trigger_cookie_valid(a, sizeof(a) - 1,
                                      S("secret-secret-1234")),
       "short cookie is refused");

    memcpy(forged, a, sizeof(a));
    forged[3] = '\0';
    ok(!ngx_http_trigger_cookie_valid(forged, sizeof(forged),
                                      S("secret-secret-1234")),
       "NUL in the id is refused");

    memcpy(forged, a, sizeof(a));
    forged[3] = '"';
    ok(!ngx_http_trigger_cookie_valid(forged, sizeof(forged),
                                      S("secret-secret-1234")),
       "non-base64url character is refused");
}


static void
test_token(void)
{
    u_char  token[NGX_HTTP_TRIGGER_TOKEN_MAX], vid[NGX_HTTP_TRIGGER_VID_LEN];
    u_char  code[NGX_HTTP_TRIGGER_CODE_LEN], other[NGX_HTTP_TRIGGER_CODE_LEN];
    size_t  n, i, bad;

    memcpy(vid, "AAAAAAAAAAAAAAAAAAAAAA", NGX_HTTP_TRIGGER_VID_LEN);

#define TOKEN_OK(key, purpose, now)                                         \
    ngx_http_trigger_token_valid(token, n, S(key), purpose, vid, 22, now)

    n = ngx_http_trigger_token_make(token, S("secret-secret-1234"), "offer",
                                    vid, 22, 2000000000);
    ok(TOKEN_OK("secret-secret-1234", "offer", 1999999999),
       "token valid before expiry");
    ok(!TOKEN_OK("secret-secret-1234", "offer", 2000000001),
       "expired token refused");
    ok(!TOKEN_OK("other-secret-12345", "offer", 1999999999),
       "token of another key");
    ok(!TOKEN_OK("secret-secret-1234", "confirm", 1999999999),
       "token of another purpose");

    vid[0] = 'B';
    ok(!TOKEN_OK("secret-secret-1234", "offer", 1999999999),
       "token of another visitor");
    vid[0] = 'A';

    token[0] = '3';
    ok(!TOKEN_OK("secret-secret-1234", "offer", 1999999999),
       "changed expiry refused");

    ok(!ngx_http_trigger_token_valid((u_char *) ".x", 2,
                                     S("secret-secret-1234"), "offer", vid,
                                     22, 0),
       "malformed token refused");

#undef TOKEN_OK

    ok(ngx_http_trigger_code_new(code) == 0
       && ngx_http_trigger_code_new(other) == 0
       && memcmp(code, other, sizeof(code)) != 0, "codes are random");

    bad = 0;

    for (i = 0; i < sizeof(code); i++) {
        if (i == 4 || i == 9) {
            bad += code[i] != '-';

        } else {
            bad += strchr("23456789ABCDEFGHJKLMNPQRSTUVWXYZ", code[i]) == NULL;
        }
    }

    ok(bad == 0, "code is XXXX-XXXX-XXXX without look-alikes");
}


/* vectors from: printf 'vid\norder\ncents\npromo' | openssl dgst -sha256 -hmac key */

static void
test_purchase_sig(void)
{
    u_char         sig[64];
    static u_char  vid[] = "AAAAAAAAAAAAAAAAAAAAAA";

    ngx_http_trigger_purchase_sign(sig, S("purchase-key-0123456789"), vid,
                                   "ORD-1", 5990, "K7Q9-XJ2P-MMC4");
    ok(memcmp(sig, "897ea532c4f88921a2156fec3e6c312a"
                   "d6f16479562056cd9f611a030734ffb9", 64) == 0,
       "purchase signature with a promo code");

    ngx_http_trigger_purchase_sign(sig, S("purchase-key-0123456789"), vid,
                                   "ORD-1", 5990, "");
    ok(memcmp(sig, "0606477ae185c20ccd351e62a32537d1"
                   "80127b6cce5ba61bf0cd03100b62f5c6", 64) == 0,
       "purchase signature without a promo code");

    ok(ngx_http_trigger_purchase_valid(sig, 64, S("purchase-key-0123456789"),
                                       vid, "ORD-1", 5990, ""),
       "purchase signature valid");
    ok(!ngx_http_trigger_purchase_valid(sig, 64,
                                        S("purchase-key-0123456789"),
                                        vid, "ORD-1", 5991, ""),
       "another amount: invalid");
    ok(!ngx_http_trigger_purchase_valid(sig, 63,
                                        S("purchase-key-0123456789"),
                                        vid, "ORD-1", 5990, ""),
       "a short signature: invalid");
}


static void
test_answer(void)
{
    const char                 *err;
    ngx_http_trigger_answer_t   a;

    err = ngx_http_trigger_answer_parse_json(
              S("{\"token\":\"1.x\",\"email\":\"Ann.Lee+shop@Example.COM\","
                "\"consent\":true,\"tz\":\"America/Argentina/Buenos_Aires\"}"),
              1, &a);
    ok(err == NULL && a.consent && a.tz_len == 30
       && a.email_len == 24
       && memcmp(a.email, "ann.lee+shop@example.com", 24) == 0,
       "subscription parsed, email in lower case");

    ok(ngx_http_trigger_answer_parse_json(S("{\"token\":\"1.x\"}"), 0, &a)
       == NULL, "decline needs only the token");

    err = ngx_http_trigger_answer_parse_json(S("{\"email\":\"a@b.cd\"}"),
                                             1, &a);
    ok(err && strcmp(err, "invalid token") == 0, "token required");

    err = ngx_http_trigger_answer_parse_json(
              S("{\"token\":\"1.x\",\"email\":\"a@b\"}"), 1, &a);
    ok(err && strcmp(err, "invalid email") == 0, "email needs a domain");

    err = ngx_http_trigger_answer_parse_json(
              S("{\"token\":\"1.x\",\"email\":\"a@b.cd\",\"tz\":\"x y\"}"),
              1, &a);
    ok(err && strcmp(err, "invalid tz") == 0, "bad time zone refused");

    ok(ngx_http_trigger_valid_email(S("user@mail.example.org")),
       "plain address");
    ok(!ngx_http_trigger_valid_email(S("user@example..org")), "double dot");
    ok(!ngx_http_trigger_valid_email(S("user@.example.org")),
       "dot after @");
    ok(!ngx_http_trigger_valid_email(S("us er@example.org")), "space");
    ok(!ngx_http_trigger_valid_email(S("user@example.c")),
       "one-letter top-level domain");
    ok(!ngx_http_trigger_valid_email(S("a@b@example.org")), "two @");
    ok(!ngx_http_trigger_valid_email(S("user@exa_mple.org")),
       "underscore in the domain");
}


static void
test_events(void)
{
    const char                *err;
    ngx_http_trigger_event_t   ev;

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_VIEW,
                                     S("SKU-1.a:b/c@d+e#f_"), S(""), S(""));
    ok(err == NULL && strcmp((char *) ev.id, "SKU-1.a:b/c@d+e#f_") == 0,
       "sku with every allowed character");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_VIEW,
                                     S("a,b"), S(""), S(""));
    ok(err && strcmp(err, "invalid sku") == 0, "comma in sku refused");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_VIEW,
                                     S(""), S(""), S(""));
    ok(err != NULL, "empty sku refused");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_VIEW,
              S("0123456789012345678901234567890123456789"
                "0123456789012345678901234"),
              S(""), S(""));
    ok(err != NULL, "65-byte sku refused");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_ADD,
                                     S("A1"), S(""), S(""));
    ok(err == NULL && ev.num == 1, "cart add defaults to 1");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_ADD,
                                     S("A1"), S("999"), S(""));
    ok(err == NULL && ev.num == 999, "qty 999");

    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_ADD,
                                  S("A1"), S("0"), S("")) != NULL,
       "qty 0 refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_ADD,
                                  S("A1"), S("1000"), S("")) != NULL,
       "qty 1000 refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_ADD,
                                  S("A1"), S("-1"), S("")) != NULL,
       "negative qty refused");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_REMOVE,
                                     S("A1"), S(""), S(""));
    ok(err == NULL && ev.num == 0, "cart remove without qty: whole line");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                     S("1001"), S("59.9"), S("SPRING-10"));
    ok(err == NULL && ev.num == 5990
       && strcmp((char *) ev.promo, "SPRING-10") == 0,
       "purchase amount in cents with promo");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                     S("1001"), S("120"), S(""));
    ok(err == NULL && ev.num == 12000 && ev.promo[0] == '\0',
       "integer amount");

    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S("1.234"), S("")) != NULL,
       "three fraction digits refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S("1."), S("")) != NULL,
       "trailing dot refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S(".5"), S("")) != NULL,
       "leading dot refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S("1e3"), S("")) != NULL,
       "exponent refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S("1000000000"), S("")) != NULL,
       "amount of 10^9 refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S(""), S("")) != NULL,
       "purchase without amount refused");
    ok(ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_PURCHASE,
                                  S("1001"), S("5"), S("BAD CODE")) != NULL,
       "promo with a space refused");

    err = ngx_http_trigger_event_set(&ev, NGX_HTTP_TRIGGER_EV_CART_CLEAR,
                                     NULL, 0, NULL, 0, NULL, 0);
    ok(err == NULL && ev.type == NGX_HTTP_TRIGGER_EV_CART_CLEAR,
       "cart clear takes no values");
}


static void
test_header(void)
{
    const char                *err;
    ngx_http_trigger_event_t   ev;

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_PURCHASE, S("  O-77   19.99\tWELCOME "));
    ok(err == NULL && strcmp((char *) ev.id, "O-77") == 0 && ev.num == 1999
       && strcmp((char *) ev.promo, "WELCOME") == 0,
       "purchase header with spaces and tabs");

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_CART_ADD, S("A1 2 x y"));
    ok(err && strcmp(err, "too many values") == 0, "extra values refused");

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_VIEW, S(""));
    ok(err != NULL, "empty view header refused");

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_CART_ADD, S("A1 2 3"));
    ok(err && strcmp(err, "too many values") == 0,
       "cart add takes two values at most");

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_VIEW, S("A1 2"));
    ok(err != NULL, "view takes one value");

    err = ngx_http_trigger_event_parse_header(&ev,
              NGX_HTTP_TRIGGER_EV_CART_CLEAR, S("yes please"));
    ok(err == NULL, "cart clear ignores its value");
}


static void
test_json(void)
{
    size_t                     n;
    const char                *err;
    ngx_http_trigger_event_t   evs[NGX_HTTP_TRIGGER_EVENTS_MAX];

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"view\",\"sku\":\"A1\"}"), evs, 20, &n);
    ok(err == NULL && n == 1 && evs[0].type == NGX_HTTP_TRIGGER_EV_VIEW,
       "single event");

    err = ngx_http_trigger_events_parse_json(
              S("{\"events\":[{\"type\":\"cart_add\",\"sku\":\"A1\",\"qty\":2},"
                "{\"type\":\"cart_remove\",\"sku\":\"A1\",\"qty\":\"1\"},"
                "{\"type\":\"cart_clear\"},"
                "{\"type\":\"purchase\",\"order\":\"9\",\"amount\":59.9,"
                "\"promo\":null}]}"), evs, 20, &n);
    ok(err == NULL && n == 4 && evs[0].num == 2 && evs[1].num == 1
       && evs[3].num == 5990, "batch of four, numbers and strings");

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"purchase\",\"order\":\"9\",\"amount\":5.999}"),
              evs, 20, &n);
    ok(err && strcmp(err, "invalid amount") == 0,
       "JSON number with three decimals refused, not rounded");

    err = ngx_http_trigger_events_parse_json(S("{\"type\":"), evs, 20, &n);
    ok(err && strcmp(err, "malformed JSON") == 0 && n == 0, "malformed JSON");

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"view\",\"sku\":\"A1\",\"sku\":\"B\"}"),
              evs, 20, &n);
    ok(err != NULL, "duplicate keys refused");

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"teleport\",\"sku\":\"A1\"}"), evs, 20, &n);
    ok(err && strcmp(err, "unknown event type") == 0, "unknown type");

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"view\",\"sku\":7}"), evs, 20, &n);
    ok(err && strcmp(err, "invalid sku") == 0, "numeric sku refused");

    err = ngx_http_trigger_events_parse_json(
              S("{\"type\":\"cart_add\",\"sku\":\"A\",\"qty\":1.5}"),
              evs, 20, &n);
    ok(err && strcmp(err, "invalid qty") == 0, "fractional qty refused");

    err = ngx_http_trigger_events_parse_json(
              S("{\"events\":[{\"type\":\"view\",\"sku\":\"A\"},"
                "{\"type\":\"view\",\"sku\":\"<script>\"}]}"), evs, 20, &n);
    ok(err != NULL && n == 0, "one bad event fails the whole batch");

    err = ngx_http_trigger_events_parse_json(
              S("{\"events\":[{},{},{}]}"), evs, 2, &n);
    ok(err && strcmp(err, "too many events") == 0, "event count limited");

    err = ngx_http_trigger_events_parse_json(S("{\"events\":[]}"),
                                             evs, 20, &n);
    ok(err && strcmp(err, "no events") == 0, "empty batch refused");

    err = ngx_http_trigger_events_parse_json(S("[1,2]"), evs, 20, &n);
    ok(err != NULL, "array at top level refused");

    err = ngx_http_trigger_events_parse_json(S("{\"events\":{}}"),
                                             evs, 20, &n);
    ok(err && strcmp(err, "events must be an array") == 0,
       "events must be an array");
}


/*
 * Where the closing body tag is, as a parser sees it: each page is
 * "before" and "after", the tag being the start of "after" (no "after":
 * there is none).
 */
static const char  *html_cases[][2] = {
    { "<p>x</p>", "</BoDy></html>" },
    { "", "</body>" },
    { "<p>", "</body\n>" },
    { "<p>", "</body/>" },
    { "<p>", "</body\tclass=x>" },
    { "a < b ", "</body>" },
    { "<<", "</body>" },
    { "</>", "</body>" },
    { "</ </body>", "</body>" },
    { "<p></bodyx>", "</body>" },
    { "</p </body>>", "</body>" },
    { "<scripts>", "</body>" },

    /* comments and their kin */
    { "<!-- </body> -->", "</body>" },
    { "<!-- x --!>", "</body>" },
    { "<!-->", "</body>" },
    { "<!--->", "</body>" },
    { "<!-- -- > </body> -->", "</body>" },
    { "<!-- x --->", "</body>" },
    { "<!-- </body> --!x -->", "</body>" },
    { "<!x </body>>", "</body>" },
    { "<!- </body>>", "</body>" },
    { "<? </body>?>", "</body>" },
    { "<!DOCTYPE html>", "</body>" },
    { "<!--[if lt IE 9]><script src=x></script></body><![endif]-->",
      "</body>" },
    { "<![if !IE]>", "</body><![endif]>" },

    /* attributes */
    { "<a title=\"x > </body>\">", "</body>" },
    { "<a title='</body>'>", "</body>" },
    { "<a b=</body>>", "</body>" },
    { "<a title=\"x\"data-a='>'>", "</body>" },
    { "<a \"</body>\">", "</body>" },
    { "<a =\"</body>\">", "</body>" },
    { "<a b = \"</body>\" c>", "</body>" },
    { "<img src=x/>", "</body>" },

    /* raw text and RCDATA */
    { "<script>document.write(\"</body>\")</script>", "</body>" },
    { "<script>x = \"</scripty>\"; y = '</body>'</script >", "</body>" },
    { "<SCRIPT type=\"text/javascript\">a</b</SCRIPT>", "</body>" },
    { "<script/></body></script>", "</body>" },
    { "<script a=\"</script>\"></body></script>", "</body>" },
    { "<script><!-- document.write('<script></script>'); '</body>' -->"
      "</script>", "</body>" },
    { "<script><!--<script></script>'</body>'--></script>", "</body>" },
    { "<script><!-- </script>", "</body>" },
    { "<script>'<!--'</script>", "</body>" },
    { "<script><!--<script>--></body></script>", "</body>" },
    { "<script><!--<scripty></body>--></script>", "</body>" },
    { "<style>a::after{content:\"</body>\"}</style>", "</body>" },
    { "<textarea></body></textarea>", "</body>" },
    { "<TEXTAREA></BODY></TEXTAREA >", "</BODY>" },
    { "<textarea>x</textarea\n>", "</body>" },
    { "<textarea></textareax></body></textarea>", "</body>" },
    { "<title>a</titl</body></title>", "</body>" },
    { "<xmp></body></xmp>", "</body>" },
    { "<iframe srcdoc=\"</body>\"></body></iframe>", "</body>" },
    { "<noembed></body></noembed>", "</body>" },
    { "<noframes></body></noframes>", "</body>" },
    { "<noscript><p></body></p></noscript>", "</body>" },

    /* none */
    { "<p>x</p></html>", NULL },
    { "<p></body", NULL },
    { "<!-- </body>", NULL },
    { "<script></body>", NULL },
    { "<plaintext></body>", NULL },
    { "<a title=\"</body>", NULL }
};


/* the tag's offset in a page fed in two pieces, split at "split" */

static ssize_t
html_find(const char *page, size_t len, size_t split, int *held_ok)
{
    size_t                   held;
    ssize_t                  at;
    ngx_http_trigger_html_t  h;

    memset(&h, 0, sizeof(h));
    *held_ok = 1;

    if (ngx_http_trigger_html_scan(&h, (const u_char *) page, split, &at)) {
        return at;
    }

    held = h.partial;

    if (ngx_http_trigger_html_scan(&h, (const u_char *) page + split,
                                   len - split, &at))
    {
        /* what began before the split was held back */
        *held_ok = (at >= -(ssize_t) held);
        return (ssize_t) split + at;
    }

    return -1;
}


static void
test_html(void)
{
    int          held_ok, all_held_ok;
    char         page[256], name[300];
    size_t       i, len, split, wrong;
    ssize_t      want, at;

    for (i = 0; i < sizeof(html_cases) / sizeof(html_cases[0]); i++) {
        len = snprintf(page, sizeof(page), "%s%s", html_cases[i][0],
                       html_cases[i][1] ? html_cases[i][1] : "");
        want = html_cases[i][1] ? (ssize_t) strlen(html_cases[i][0]) : -1;

        wrong = 0;
        all_held_ok = 1;

        for (split = 0; split <= len; split++) {
            at = html_find(page, len, split, &held_ok);

            if (at != want) {
                wrong++;
            }

            all_held_ok &= held_ok;
        }

        /* a test's name is one line */
        for (split = 0; split < len; split++) {
            if (page[split] == '\n' || page[split] == '\r'
                || page[split] == '\t')
            {
                page[split] = ' ';
            }
        }

        snprintf(name, sizeof(name), "closing tag %s in \"%s\", "
                 "split anywhere", want < 0 ? "absent" : "found", page);
        ok(wrong == 0 && all_held_ok, name);
    }
}


/* how much of the end of what was fed could start the tag */

static void
test_html_partial(void)
{
    size_t                   i;
    ssize_t                  at;
    ngx_http_trigger_html_t  h;
    static const struct {
        const char  *page;
        size_t       partial;
    } cases[] = {
        { "x<", 1 }, { "x</", 2 }, { "x</B", 3 }, { "x</bod", 5 },
        { "x</body", 6 }, { "x</bodyx", 0 }, { "x</p", 0 }, { "x<p", 0 },
        { "<!--</body", 0 }, { "<script></body", 0 }, { "<a b='</body", 0 },
        { "x<</", 2 }, { "<!-- -->x</bo", 4 }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(&h, 0, sizeof(h));

        if (ngx_http_trigger_html_scan(&h, (const u_char *) cases[i].page,
                                       strlen(cases[i].page), &at)
            || h.partial != cases[i].partial)
        {
            break;
        }
    }

    ok(i == sizeof(cases) / sizeof(cases[0]),
       "what could start the tag at the end is known");
}


/* the corpus: t/html-corpus/EXPECTED says where each page's tag is */

static void
test_html_corpus(const char *dir)
{
    int                      wrong, held_ok;
    char                     path[512], file[256], name[300];
    FILE                    *list, *f;
    u_char                  *page;
    size_t                   len, pos, step, split;
    ssize_t                  at, found;
    long                     offset;
    ngx_http_trigger_html_t  h;

    snprintf(path, sizeof(path), "%s/EXPECTED", dir);

    list = fopen(path, "r");
    ok(list != NULL, "the corpus is there");

    if (list == NULL) {
        return;
    }

    page = malloc(1 << 20);

    while (fscanf(list, "%255s %ld", file, &offset) == 2) {
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        f = fopen(path, "r");
        len = f ? fread(page, 1, 1 << 20, f) : 0;

        if (f) {
            fclose(f);
        }

        wrong = (f == NULL);

        for (split = 0; split <= len; split++) {
            wrong |= (html_find((char *) page, len, split, &held_ok)
                      != offset || !held_ok);
        }

        /* and byte by byte, and in odd pieces */

        for (step = 1; step <= 7; step += 6) {
            memset(&h, 0, sizeof(h));
            found = -1;

            for (pos = 0; pos < len; pos += step) {
                if (ngx_http_trigger_html_scan(&h, page + pos,
                        len - pos < step ? len - pos : step, &at))
                {
                    found = (ssize_t) pos + at;
                    break;
                }
            }

            wrong |= (found != offset);
        }

        snprintf(name, sizeof(name), "corpus %s: tag at %ld", file, offset);
        ok(!wrong, name);
    }

    free(page);
    fclose(list);
}


static void
test_cache_private(void)
{
    u_char   out[256];
    size_t   i, n;
    static const char  *cases[][2] = {
        { "public, max-age=600", ", max-age=600" },
        { "PUBLIC,s-maxage=60 , max-age=5", ", max-age=5" },
        { "no-store, no-cache", ", no-store, no-cache" },
        { "private=\"Set-Cookie\", public", "" },
        { "no-cache=\"Set-Cookie, public\",public", ", no-cache=\"Set-Cookie, "
                                                    "public\"" },
        { "  ,, must-revalidate ,", ", must-revalidate" },
        { "x=\"a\\\",public\", y", ", x=\"a\\\",public\", y" },
        { "", "" }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        n = ngx_http_trigger_cache_private(out, (const u_char *) cases[i][0],
                                           strlen(cases[i][0]));

        if (n != strlen(cases[i][1]) || memcmp(out, cases[i][1], n) != 0) {
            break;
        }
    }

    ok(i == sizeof(cases) / sizeof(cases[0]),
       "Cache-Control without what lets shared caches keep it");
}
static void
test_accepts_gzip(void)
{
    size_t              i;
    static const struct {
        const char  *value;
        int          gzip;
    } cases[] = {
        { "gzip, deflate, br", 1 },
        { "br;q=1.0, GZIP;q=0.5", 1 },
        { "x-gzip", 1 },
        { "gzip;q=0", 0 },
        { "gzip; q=0.000, deflate", 0 },
        { "gzip;q=0.001", 1 },
        { "deflate, br", 0 },
        { "gzipped, identity", 0 },
        { "", 0 },
        { "identity;q=1, *;q=0", 0 },
        { "gzip;q=", 1 }
    };

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (ngx_http_trigger_accepts_gzip((const u_char *) cases[i].value,
                                          strlen(cases[i].value))
            != cases[i].gzip)
        {
            printf("# Accept-Encoding: %s\n", cases[i].value);
            break;
        }
    }

    ok(i == sizeof(cases) / sizeof(cases[0]),
       "Accept-Encoding: gzip taken unless its weight is 0");
}


static void
test_script_json(void)
{
    u_char      out[256];
    size_t      n;
    const char  *in = "{\"n\":\"</script><!--&\xe2\x80\xa8\xe2\x80\xa9\"}";
    const char  *want = "{\"n\":\"\\u003c/script\\u003e\\u003c!--"
                        "\\u0026\\u2028\\u2029\"}";

    n = ngx_http_trigger_script_json(out, (const u_char *) in, strlen(in));
    ok(n == strlen(want) && memcmp(out, want, n) == 0,
       "JSON made safe inside <script>");
}


static void
test_offer(void)
{
    ngx_http_trigger_offer_rules_t  rules;
    ngx_http_trigger_offer_state_t  st, s;

    memset(&rules, 0, sizeof(rules));
    rules.min_depth = 3;
    rules.min_duration = 60;
    rules.decline_pause = 30 * 86400;
    rules.cap_shows = 2;
    rules.cap_period = 86400;
    rules.holdout = 1000;
    rules.require_items = 1;

    memset(&st, 0, sizeof(st));
    st.now = 1800000000;
    st.depth = 3;
    st.duration = 60;
    st.items = 1;
    st.bucket = 5000;
    st.condition = 1;

    ok(ngx_http_trigger_offer_decide(&rules, &st)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "engaged visitor is eligible");

    s = st; s.depth = 2;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_SHALLOW, "too few pages");

    s = st; s.duration = 59;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_SHORT, "too short a visit");

    s = st; s.purchases = 1;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_PURCHASED, "buyers are not offered");

    s = st; s.declined_at = st.now - 29 * 86400;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_DECLINED, "declined 29 days ago");

    s = st; s.declined_at = st.now - 30 * 86400;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "declined 30 days ago: again");

    s = st; s.active_until = st.now + 1;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ACTIVE, "an active offer");

    s = st; s.items = 0;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_NO_ITEMS, "nothing to show");

    rules.require_items = 0;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "items optional");
    rules.require_items = 1;

    s = st; s.shows = 2; s.shows_since = st.now - 100;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_CAPPED, "frequency cap");

    s.shows_since = st.now - 86400;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "cap period over");

    s = st; s.condition = 0;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_CONDITION, "shop's condition");

    s.active_until = st.now + 60;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ACTIVE,
       "a valid code is reminded whatever the page rules");

    s = st; s.bucket = 999;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_HOLDOUT, "held out");

    ok(ngx_http_trigger_offer_bucket((const u_char *) "abc", 3)
       == ngx_http_trigger_offer_bucket((const u_char *) "abc", 3)
       && ngx_http_trigger_offer_bucket((const u_char *) "abc", 3) < 10000,
       "bucket is stable and in range");

    rules.close_pause = 4 * 3600;

    s = st; s.closed_at = st.now - 3600;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_PAUSED, "closed an hour ago: paused");

    s.closed_at = st.now - 4 * 3600;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "close pause over");

    s.closed_at = st.now - 3600; s.declined_at = st.now - 3600;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_DECLINED, "a decline outranks a close");

    rules.close_pause = 0;
    s = st; s.closed_at = st.now - 1;
    ok(ngx_http_trigger_offer_decide(&rules, &s)
       == NGX_HTTP_TRIGGER_OFFER_ELIGIBLE, "close pause off");

    ok(strcmp(ngx_http_trigger_offer_names[NGX_HTTP_TRIGGER_OFFER_PAUSED],
              "paused") == 0
       && strcmp(ngx_http_trigger_offer_names[NGX_HTTP_TRIGGER_OFFER_PREVIEW],
                 "preview") == 0,
       "outcome names");
}


static void
test_variant(void)
{
    u_char    vid[NGX_HTTP_TRIGGER_VID_LEN], raw[NGX_HTTP_TRIGGER_ID_BYTES];
    size_t    i, v, n[3], same, held[2][3];
    uint32_t  weights[3] = { 1, 1, 2 };
    uint32_t  zero[2] = { 0, 0 };

    memset(n, 0, sizeof(n));
    memset(held, 0, sizeof(held));
    same = 1;

    for (i = 0; i < 20000; i++) {
        memset(raw, 0, sizeof(raw));
        memcpy(raw, &i, sizeof(i));
        raw[15] = 0x5a;
        ngx_http_trigger_base64url(vid, raw, sizeof(raw));

        v = ngx_http_trigger_offer_variant(vid, sizeof(vid), weights, 3);
        n[v]++;

        if (v != ngx_http_trigger_offer_variant(vid, sizeof(vid), weights, 3))
        {
            same = 0;
        }

        /* the holdout's bucket says nothing about the variant */
        held[ngx_http_trigger_offer_bucket(vid, sizeof(vid)) < 5000][v]++;
    }

    ok(same, "a visitor's variant is stable");
    ok(n[0] > 4500 && n[0] < 5500 && n[1] > 4500 && n[1] < 5500
       && n[2] > 9500 && n[2] < 10500, "weights 1:1:2 honoured");
    ok(held[0][2] > 4500 && held[0][2] < 5500
       && held[1][2] > 4500 && held[1][2] < 5500,
       "variants independent of the holdout bucket");
    ok(ngx_http_trigger_offer_variant(vid, sizeof(vid), zero, 2) == 0,
       "zero weights: the first");

    weights[0] = 0;
    ok(ngx_http_trigger_offer_variant(vid, sizeof(vid), weights, 2) == 1,
       "weight 0: never drawn");
}


static void
test_offer_words(void)
{
    u_char                      buf[NGX_HTTP_TRIGGER_PREVIEW_MAX];
    size_t                      n;
    ngx_http_trigger_preview_t  pv, got;

    ok(ngx_http_trigger_offer_word(ngx_http_trigger_offer_formats,
                                   S("bar-top")) == 2
       && ngx_http_trigger_offer_word(ngx_http_trigger_offer_langs,
                                      S("es")) == 4
       && ngx_http_trigger_offer_word(ngx_http_trigger_offer_langs,
                                      S("e")) == -1,
       "formats and languages");

    ok(ngx_http_trigger_offer_accent_valid(S("#1a7f37"))
       && !ngx_http_trigger_offer_accent_valid(S("#1a7f3"))
       && !ngx_http_trigger_offer_accent_valid(S("1a7f37a"))
       && !ngx_http_trigger_offer_accent_valid(S("#1a7g37")),
       "accent colours");

    ok(ngx_http_trigger_offer_name_valid(S("green_2-b"))
       && !ngx_http_trigger_offer_name_valid(S(""))
       && !ngx_http_trigger_offer_name_valid(S("a:b"))
       && !ngx_http_trigger_offer_name_valid(
              S("abcdefghijabcdefghijabcdefghijabc")),
       "variant names");

    ok(ngx_http_trigger_preview_parse(S("b:slidein:de"), &got) == 0
       && got.variant_len == 1 && got.format == 1 && got.lang == 2,
       "preview options");
    ok(ngx_http_trigger_preview_parse(S("::"), &got) == 0
       && got.variant_len == 0 && got.format == -1 && got.lang == -1,
       "preview without options");
    ok(ngx_http_trigger_preview_parse(S("b:popup:de"), &got) != 0
       && ngx_http_trigger_preview_parse(S("b:modal"), &got) != 0
       && ngx_http_trigger_preview_parse(S("b:modal:de:"), &got) != 0
       && ngx_http_trigger_preview_parse(S("b c::"), &got) != 0,
       "malformed preview options");

    pv.variant = (const u_char *) "b";
    pv.variant_len = 1;
    pv.format = 3;
    pv.lang = -1;

    n = ngx_http_trigger_preview_make(buf, S("secret-secret-1234"), &pv,
                                      2000000000);
    ok(n > 14 && memcmp(buf, "b:bar-bottom:.2000000000.", 25) == 0,
       "preview cookie's value");
    ok(ngx_http_trigger_preview_valid(buf, n, S("secret-secret-1234"),
                                      1999999999, &got)
       && got.format == 3 && got.lang == -1 && got.variant_len == 1,
       "preview cookie valid");
    ok(!ngx_http_trigger_preview_valid(buf, n, S("secret-secret-1234"),
                                       2000000001, &got),
       "preview cookie expired");
    ok(!ngx_http_trigger_preview_valid(buf, n, S("other-secret-12345"),
                                       1999999999, &got),
       "preview cookie of another secret");

    buf[0] = 'c';
    ok(!ngx_http_trigger_preview_valid(buf, n, S("secret-secret-1234"),
                                       1999999999, &got),
       "preview options changed: invalid");

    n = ngx_http_trigger_token_make(buf, S("secret-secret-1234"), "offer",
                                    S("b:bar-bottom:"), 2000000000);
    ok(!ngx_http_trigger_preview_valid(buf, n, S("secret-secret-1234"),
                                       1999999999, &got),
       "another purpose's token is no preview");
}


#define CS(s)  (s), sizeof(s) - 1


/* the partials of the template tests: "self" includes itself */

static const ngx_http_trigger_template_t *
test_partial(void *data, const char *name, size_t len)
{
    ngx_http_trigger_template_t  **partials = data;

    if (strcmp(name, "self") == 0 && len == 4) {
        return partials[0];
    }

    if (strcmp(name, "item") == 0 && len == 4) {
        return partials[1];
    }

    return NULL;
}


/*
 * Renders tpl against the JSON data (NULL: none) into a buffer of max
 * bytes; returns the text, or the error's description.
 */

static const char *
test_render(const char *tpl, const char *data, unsigned flags, size_t max)
{
    int                               rc;
    char                              err[256];
    json_t                           *ctx;
    ngx_http_trigger_template_t      *t, *partials[2];
    ngx_http_trigger_template_buf_t   out;
    static char                       text[16384];

    t = ngx_http_trigger_template_compile(tpl, strlen(tpl), err, sizeof(err));
    if (t == NULL) {
        snprintf(text, sizeof(text), "%s", err);
        return text;
    }

    partials[0] = ngx_http_trigger_template_compile(CS("x{{>self}}"), err,
                                                    sizeof(err));
    partials[1] = ngx_http_trigger_template_compile(
                      CS("<li>{{name}}: {{price}}</li>\n"), err, sizeof(err));

    ctx = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;

    ngx_http_trigger_template_buf_init(&out, max);
    rc = ngx_http_trigger_template_render(t, ctx, test_partial, partials,
                                          flags, &out);

    snprintf(text, sizeof(text), "%s",
             rc == NGX_HTTP_TRIGGER_TEMPLATE_OK
             ? out.data : ngx_http_trigger_template_strerror(rc));

    ngx_http_trigger_template_buf_free(&out);
    json_decref(ctx);
    ngx_http_trigger_template_free(partials[0]);
    ngx_http_trigger_template_free(partials[1]);
    ngx_http_trigger_template_free(t);

    return text;
}


#define R(tpl, data)  test_render(tpl, data, 0, 1 << 20)


static void
test_template_errors(void)
{
    int   i;
    char  deep[33 * 12 + 1];

    ok(strcmp(R("Hello\n{{#items}}\n<li>{{name}}</li>\n", "{}"),
              "line 2, column 1: section \"items\" is not closed") == 0,
       "template: unclosed section, where it opens");

    ok(strcmp(R("{{#a}}\n  {{/b}}", "{}"),
              "line 2, column 3: section \"a\" (line 1, column 1) closed as"
              " \"b\"") == 0, "template: mismatched section names");

    ok(strcmp(R("{{/a}}", "{}"),
              "line 1, column 1: \"a\" closes no section") == 0,
       "template: a closing tag without its section");

    ok(strcmp(R("ab\ncd {{= <% =}}", "{}"),
              "line 2, column 4: bad delimiters \"<%\"") == 0,
       "template: bad delimiters");

    ok(strcmp(R("Hi {{name", "{}"),
              "line 1, column 4: tag not closed: no \"}}\"") == 0,
       "template: unclosed tag");

    ok(strcmp(R("{{{name}}", "{}"),
              "line 1, column 1: tag not closed: no \"}}}\"") == 0,
       "template: unclosed triple mustache");

    ok(strcmp(R("{{=<% %>}}", "{}"),
              "line 1, column 1: tag not closed: no \"=}}\"") == 0,
       "template: unclosed delimiters tag");

    ok(strcmp(R("{{=<% %>=}}\n<%first name%>", "{}"),
              "line 2, column 1: bad name \"first name\"") == 0,
       "template: a name with a blank, after new delimiters");

    ok(strcmp(R("{{a..b}}", "{}"), "line 1, column 1: bad name \"a..b\"")
       == 0, "template: an empty part of a dotted name");

    for (i = 0; i < 33; i++) {
        memcpy(deep + i * 6, "{{#a}}", 6);
        memcpy(deep + 33 * 6 + i * 6, "{{/a}}", 6);
    }

    deep[sizeof(deep) - 1] = '\0';

    ok(strcmp(R(deep, "{}"),
              "line 1, column 193: sections nested deeper than 32") == 0,
       "template: nesting limit");
}


static void
test_template_render(void)
{
    int                               rc;
    char                              err[64];
    json_t                           *ctx;
    ngx_http_trigger_template_t      *t;
    ngx_http_trigger_template_buf_t   out;

    ok(strcmp(R("Hi {{first_name}}, {{cart.total}}!", "{}"), "Hi , !") == 0,
       "template: missing variables render empty");
    ok(strcmp(R("Hi {{first_name}}!", NULL), "Hi !") == 0,
       "template: no data at all");
    ok(strcmp(R("{{#cart}}in cart{{/cart}}{{^cart}}empty{{/cart}}", "{}"),
              "empty") == 0, "template: a missing section is false");

    ok(strcmp(R("<p>{{name}}</p> {{{name}}} {{&name}}",
                "{\"name\":\"<b>Tom & Jerry's \\\"mug\\\"</b>\"}"),
              "<p>&lt;b&gt;Tom &amp; Jerry&#39;s &quot;mug&quot;&lt;/b&gt;"
              "</p> <b>Tom & Jerry's \"mug\"</b> <b>Tom & Jerry's \"mug\"</b>")
       == 0, "template: a product name with HTML is escaped");

    ok(strcmp(test_render("{{name}}", "{\"name\":\"Tom & <Jerry>\"}",
                          NGX_HTTP_TRIGGER_TEMPLATE_TEXT, 1 << 20),
              "Tom & <Jerry>") == 0, "template: plain-text mode");

    ok(strcmp(test_render("{\"s\":\"{{x}}\"}",
                          "{\"x\":\"a\\\"b\\\\c\\n<d>\"}",
                          NGX_HTTP_TRIGGER_TEMPLATE_JSON, 1 << 20),
              "{\"s\":\"a\\\"b\\\\c\\u000a<d>\"}") == 0,
       "template: JSON mode escapes for a JSON string");

    ok(strcmp(R("{{a}} {{b}} {{c}} {{d}} {{e}} {{f}} {{g}} {{h}} {{i}}",
                "{\"a\":1500000.0,\"b\":0.1,\"c\":19.99,\"d\":-2.5,"
                "\"e\":1e21,\"f\":1.5e-7,\"g\":0.000001,\"h\":-42,"
                "\"i\":true}"),
              "1500000 0.1 19.99 -2.5 1e+21 1.5e-7 0.000001 -42 true") == 0,
       "template: numbers as JavaScript writes them");

    ok(strcmp(R("{{#n}}n{{/n}}{{#s}}s{{/s}}{{#l}}l{{/l}}{{#o}}o{{/o}}",
                "{\"n\":0,\"s\":\"\",\"l\":[],\"o\":{}}"), "o") == 0,
       "template: 0, \"\" and [] are false, {} is true");

    ok(strcmp(R("<ul>\n{{#items}}\n  {{>item}}\n{{/items}}\n</ul>",
                "{\"items\":[{\"name\":\"Mug\",\"price\":9.5},"
                "{\"name\":\"Cup\",\"price\":4}]}"),
              "<ul>\n  <li>Mug: 9.5</li>\n  <li>Cup: 4</li>\n</ul>") == 0,
       "template: a standalone partial in a list, indented");

    ok(strcmp(R("{{>self}}", "{}"), "partials nested too deep") == 0,
       "template: a partial including itself stops");

    ok(strcmp(R("{{#l}}{{#l}}{{#l}}{{#l}}{{/l}}{{/l}}{{/l}}{{/l}}",
                "{\"l\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,"
                "21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,"
                "40]}"), "too many steps") == 0,
       "template: runaway work stops");

    /* the size limit, and a failed render leaves the buffer as it was */

    t = ngx_http_trigger_template_compile(CS("{{x}}{{x}}"), err, sizeof(err));
    ctx = json_pack("{s:s}", "x", "12345");
    ngx_http_trigger_template_buf_init(&out, 10);

    rc = ngx_http_trigger_template_render(t, ctx, NULL, NULL, 0, &out);
    ok(rc == NGX_HTTP_TRIGGER_TEMPLATE_OK && out.len == 10
       && strcmp(out.data, "1234512345") == 0,
       "template: output of exactly the maximum size");

    out.len = 3;
    rc = ngx_http_trigger_template_render(t, ctx, NULL, NULL, 0, &out);
    ok(rc == NGX_HTTP_TRIGGER_TEMPLATE_ETOOBIG && out.len == 3
       && strcmp(out.data, "123") == 0,
       "template: over the maximum size, the buffer is unchanged");

    json_decref(ctx);
    ctx = json_pack("{s:s}", "x", "&&&");
    out.len = 0;

    rc = ngx_http_trigger_template_render(t, ctx, NULL, NULL, 0, &out);
    ok(rc == NGX_HTTP_TRIGGER_TEMPLATE_ETOOBIG && out.len == 0,
       "template: the limit counts escaped text");

    json_decref(ctx);
    ngx_http_trigger_template_buf_free(&out);
    ngx_http_trigger_template_free(t);
}


/* a letter of about 10 KB with a list of 3 items, rendered twice */

static void
test_template_letter(void)
{
    int                               rc, i;
    char                              err[64], *text, *p;
    json_t                           *ctx;
    ngx_http_trigger_template_t      *t;
    ngx_http_trigger_template_buf_t   out;
    static const char                 head[] =
        "<p>Hello {{first_name}},</p>\n<ul>\n{{#items}}\n"
        "  <li>{{name}}: {{price}}</li>\n{{/items}}\n</ul>\n";
    static const char                 list[] =
        "<p>Hello Ann,</p>\n<ul>\n  <li>Mug: 9.5</li>\n"
        "  <li>Cup: 4.25</li>\n  <li>Tea: 3</li>\n</ul>\n";

    text = malloc(sizeof(head) - 1 + 100 * 100 + 1);
    memcpy(text, head, sizeof(head) - 1);
    p = text + sizeof(head) - 1;

    for (i = 0; i < 100; i++) {
        memcpy(p, "<p>Lorem ipsum dolor sit amet, consectetur adipiscing "
                  "elit, sed do eiusmod {{shop}} incididunt.</p>\n", 100);
        p += 100;
    }

    *p = '\0';

    t = ngx_http_trigger_template_compile(text, p - text, err, sizeof(err));
    ctx = json_pack("{s:s,s:s,s:[{s:s,s:f},{s:s,s:f},{s:s,s:i}]}",
                    "first_name", "Ann", "shop", "Shop",
                    "items", "name", "Mug", "price", 9.5,
                    "name", "Cup", "price", 4.25, "name", "Tea", "price", 3);

    ngx_http_trigger_template_buf_init(&out, 1 << 20);
    rc = ngx_http_trigger_template_render(t, ctx, NULL, NULL, 0, &out);

    out.len = 0;
    rc |= ngx_http_trigger_template_render(t, ctx, NULL, NULL, 0, &out);

    ok(t != NULL && rc == NGX_HTTP_TRIGGER_TEMPLATE_OK
       && out.len == sizeof(list) - 1 + 100 * (100 - 8 + 4)
       && memcmp(out.data, list, sizeof(list) - 1) == 0
       && memcmp(out.data + out.len - 21, "Shop incididunt.</p>\n", 21)
          == 0, "template: a 10 KB letter with a list of 3 items");

    json_decref(ctx);
    ngx_http_trigger_template_buf_free(&out);
    ngx_http_trigger_template_free(t);
    free(text);
}


int
main(void)
{
    test_base64url();
    test_hmac();
    test_sha1();
    test_cookie();
    test_token();
    test_purchase_sig();
    test_answer();
    test_events();
    test_header();
    test_json();
    test_html();
    test_html_partial();
    test_html_corpus("t/html-corpus");
    test_cache_private();
    test_accepts_gzip();
    test_script_json();
    test_offer();
    test_variant();
    test_offer_words();
    test_template_errors();
    test_template_render();
    test_template_letter();
    test_providers();

    ngx_http_trigger_hmac_free();

    printf("1..%d\n", tests);

    return failed ? 1 : 0;
}
