#!/usr/bin/perl
# The offer: the decision rules and their outcome variable, the holdout,
# the offer token, subscribe and decline with their limits, promo codes
# and the funnel counters.

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;
use IO::Uncompress::Gunzip ();
use Digest::SHA ();

my $t = TriggerTest->new;
$t->start_redis;

$t->write_file('html/index.html', "<html><body>shop</body></html>\n");
$t->write_file('products.json', <<'EOF2');
{"products": [
  {"sku": "A1", "name": "Linen shirt", "price": "59.90", "currency": "EUR",
   "image": "/img/a1.svg", "url": "/p/A1"},
  {"sku": "B2", "name": "Canvas bag", "price": "24.00", "currency": "EUR",
   "url": "/p/B2"},
  {"sku": "C3", "name": "Cap"}
]}
EOF2

$t->start_nginx(http => <<'EOF2');
    %%TRIGGER_BASE%%
    trigger_api_purchase_key %%PURCHASE_KEY%%;
    trigger_products %%TMP%%/products.json;
    trigger_offer_cap 2 1d;
    trigger_subscribe_limit 3 1h;
    trigger_offer_code_ttl 7d;

    limit_req_zone $binary_remote_addr zone=per_ip:1m rate=1r/m;

    map $arg_no_offer $offer_ok {
        "1"      0;
        default  1;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;

        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 3;
        trigger_offer_min_duration 0;
        trigger_offer_if $offer_ok;
        trigger_widget_consent "I agree to receive emails";
        trigger_widget_items 2;
        add_header X-Offer $trigger_offer always;

        location / { }

        location ~ ^/p/(?<sku>\w+)$ {
            trigger_view $sku;
            try_files /index.html =404;
        }

        location = /add {
            trigger_cart_add $arg_sku;
            try_files /index.html =404;
        }

        location /holdout/ {
            alias %%HTML%%/;
            trigger_offer_holdout 100%;
        }

        location /_trigger/ {
            trigger_api;
            trigger_api_max_size 1k;
        }

        # per address, as examples/nginx.conf does it
        location /limited/ {
            trigger_api;
            limit_req zone=per_ip;
            limit_req_status 429;
            error_page 429 = @trigger_429;
        }

        location @trigger_429 {
            types { }
            default_type application/json;
            add_header Cache-Control no-store always;
            return 429 '{"ok":false,"error":"too many requests"}\n';
        }
    }
EOF2

sub offer_data {
    my ($res) = @_;
    my ($json) = $res->body =~ m{id="trg-offer">(.*?)</script>}s or return;
    return json_decode($json);
}

sub stats {
    my @t = gmtime;
    my $day = sprintf '%04d%02d%02d', $t[5] + 1900, $t[4] + 1, $t[3];
    return { @{ $t->redis->hgetall($t->key_prefix . "stats:$day") } };
}

sub engaged_visitor {
    my $v = $t->visitor;
    $v->get('/p/C3');
    $v->get('/p/A1');
    $v->get('/add?sku=B2');
    return $v;
}

# --- the decision -------------------------------------------------------

my $v = $t->visitor;
is $v->get('/p/A1')->header('X-Offer'), 'shallow', 'one page: shallow';
is $v->get('/p/B2')->header('X-Offer'), 'shallow', 'two pages: shallow';
my $r = $v->get('/index.html');
is $r->header('X-Offer'), 'eligible', 'third page: eligible';
my $offer = offer_data($r);
ok $offer, 'bootstrap injected';
ok !$offer->{mail}, 'no chains: the widget promises no letter';
is_deeply [map { $_->{sku} } @{$offer->{items}}], ['B2', 'A1'],
    'viewed items, most recent first, limited by trigger_widget_items';
is $offer->{items}[0]{name}, 'Canvas bag', 'items carry the feed data';
is $offer->{consent}, 'I agree to receive emails', 'consent text';

$v = engaged_visitor();
$offer = offer_data($v->get('/index.html'));
is_deeply [map { [$_->{sku}, $_->{in_cart} ? 1 : 0] } @{$offer->{items}}],
    [['B2', 1], ['A1', 0]], 'cart first, then viewed';
is $offer->{items}[0]{qty}, 1, 'cart quantity';

is $v->get('/index.html?no_offer=1')->header('X-Offer'), 'condition',
    'trigger_offer_if says no';

my $nothing = $t->visitor;
$nothing->get('/index.html') for 1 .. 3;
is $nothing->get('/index.html')->header('X-Offer'), 'no_items',
    'nothing viewed: no_items';

my $held = $t->visitor;
$held->get("/p/$_") for qw(C3 A1);
$r = $held->get('/holdout/index.html');
is $r->header('X-Offer'), 'holdout', 'held out';
ok !offer_data($r), 'no widget for the control group';
ok wait_until(sub { ($held->hash->{h} // '') eq 'c' }),
    'control group recorded on the visitor';
ok wait_until(sub { ($v->hash->{h} // '') eq 't' }),
    'offered group recorded on the visitor';

# frequency cap: two shows a day
my $shown = engaged_visitor();
for (1 .. 2) {
    is $shown->post('/_trigger/events', '{"type":"offer_shown"}')->status,
        200, 'offer_shown reported';
}
is $shown->get('/index.html')->header('X-Offer'), 'capped',
    'frequency cap reached';

# purchase: no offer to buyers
my $buyer = engaged_visitor();
$buyer->post('/_trigger/events',
    json_encode($buyer->signed_purchase(order => 'B-1', cents => 1000)));
is $buyer->get('/index.html')->header('X-Offer'), 'purchased',
    'buyers get no offer';

# --- decline ----------------------------------------------------------

my $d = engaged_visitor();
$offer = offer_data($d->get('/index.html'));
$r = $d->post('/_trigger/decline', json_encode({ token => 'x' . $offer->{token} }));
is $r->status, 403, 'decline with a forged token: 403';
ok !$d->hash->{x}, 'nothing stored';

$r = $d->post('/_trigger/decline', json_encode({ token => $offer->{token} }));
is $r->status, 200, 'decline accepted';
is_deeply $r->json, { ok => JSON::PP::true }, 'decline answer';
ok $d->hash->{x}, 'decline time stored';
is $d->get('/index.html')->header('X-Offer'), 'declined',
    'not offered again after declining';

# --- subscribe --------------------------------------------------------

my $s = engaged_visitor();
$offer = offer_data($s->get('/index.html'));
my $token = $offer->{token};
my $keys_before = scalar @{[ $t->redis->keys('*') ]};

my @bad = (
    ['not json',                       400, 'malformed JSON'],
    [json_encode({ email => 'a@b.cd', consent => JSON::PP::true }),
                                       400, 'invalid token'],
    [json_encode({ token => $token, email => 'not-an-email',
                   consent => JSON::PP::true }), 400, 'invalid email'],
    [json_encode({ token => $token, email => 'ann@example.com' }),
                                       400, 'consent required'],
    [json_encode({ token => "1$token", email => 'ann@example.com',
                   consent => JSON::PP::true }), 403, 'invalid token'],
    [json_encode({ token => $token, email => ('a' x 2000) . '@example.com',
                   consent => JSON::PP::true }), 413, 'body too large'],
);

for my $b (@bad) {
    $r = $s->post('/_trigger/subscribe', $b->[0]);
    is $r->status, $b->[1], "subscribe: $b->[2] ($b->[1])";
    is $r->json && $r->json->{error}, $b->[2], "error says $b->[2]";
}

is scalar @{[ $t->redis->keys('*') ]}, $keys_before,
    'bad subscriptions store nothing';

$r = $t->visitor->post('/_trigger/subscribe',
    json_encode({ token => $token, email => 'ann@example.com',
                  consent => JSON::PP::true }));
is $r->status, 403, "another visitor cannot use this visitor's token";

$r = $s->get('/_trigger/subscribe');
is $r->status, 405, 'GET subscribe: 405';
is $r->header('Allow'), 'POST', 'Allow: POST';

$r = $s->post('/_trigger/subscribe',
    json_encode({ token => $token, email => 'Ann@Example.com',
                  consent => JSON::PP::true, tz => 'Europe/Berlin' }));
is $r->status, 200, 'subscribed';
my $code = $r->json->{code};
like $code, qr/^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/,
    'promo code';
ok $r->json->{expires_at} > time + 6 * 86400, 'code expires in 7 days';
is $r->header('Cache-Control'), 'no-store', 'answers are not cached';

my %c = @{ $t->redis->hgetall($t->key_prefix . "code:$code") };
is $c{email}, 'ann@example.com', 'code record: email';
is $c{used}, 0, 'code record: unused';
is $c{vid}, $s->vid, 'code record: visitor';

my %e = @{ $t->redis->hgetall($t->key_prefix . 'email:'
                                . Digest::SHA::sha1_hex('ann@example.com')) };
is $e{tz}, 'Europe/Berlin', 'time zone kept for sending hours';
is $e{state}, 'queued', 'the address is subscribed';
is $e{code}, $code, 'its record carries the code';
is $e{discount}, '10%', 'and the discount, for the letters';
is scalar(() = $t->redis->zrange($t->key_prefix . 'queue', 0, -1)), 0,
    'no trigger_chains: no letters queued';

is $s->get('/index.html')->header('X-Offer'), 'active',
    'no new offer while one is active';

# a token answers once: its retry gets the same answer, nothing else
$r = $s->post('/_trigger/subscribe',
    json_encode({ token => $token, email => 'ann@example.com',
                  consent => JSON::PP::true }));
is $r->status, 200, 'the same answer again (a retry)';
is $r->json->{code}, $code, 'the retry gets the same code';
is $t->redis->hget($t->key_prefix . 'email:'
                   . Digest::SHA::sha1_hex('ann@example.com'), 'code'),
    $code, 'the record unchanged';
$r = $s->post('/_trigger/subscribe',
    json_encode({ token => $token, email => 'bob@example.com',
                  consent => JSON::PP::true }));
is $r->status, 403, 'the token with another address: 403';
is $r->json->{error}, 'token already used', 'says why';

# the same address from another visitor (another device): an answer of
# the same shape, the address's valid code again, no second chain
my $other = engaged_visitor();
my $token2 = offer_data($other->get('/index.html'))->{token};
$r = $other->post('/_trigger/subscribe',
    json_encode({ token => $token2, email => 'ann@example.com',
                  consent => JSON::PP::true }));
is $r->status, 200, 'same email from another visitor';
is_deeply [sort keys %{ $r->json }], [qw(code expires_at ok)],
    'the answer does not say the address was known';
is $r->json->{code}, $code, "the address's unused code again";
is $t->redis->hget($t->key_prefix . 'email:'
                   . Digest::SHA::sha1_hex('ann@example.com'), 'vid'),
    $s->vid, 'the known address keeps its first visitor';

# per address: nginx's limit_req on the trigger_api location
my $ip = engaged_visitor();
my $ip_token = offer_data($ip->get('/index.html'))->{token};
my @res = map {
    $ip->post('/limited/subscribe', json_encode({ token => $ip_token,
        email => "ip$_\@example.com", consent => JSON::PP::true }))
} 1 .. 2;
is_deeply [map { $_->status } @res], [200, 429],
    'one address: the second subscription is 429';
is $res[1]->header('Content-Type'), 'application/json',
    "limit_req's 429 is JSON";
is $res[1]->body, qq({"ok":false,"error":"too many requests"}\n),
    "and says why, as the module's own 429 does";

# --- the promo code in a purchase -------------------------------------

$r = $s->post('/_trigger/events', json_encode($s->signed_purchase(
    order => 'O-1', cents => 4990, promo => $code)));
is $r->status, 200, 'purchase with the code';
%c = @{ $t->redis->hgetall($t->key_prefix . "code:$code") };
is $c{used}, 1, 'code marked used';
is $c{order}, 'O-1', 'by that order';

$r = $other->post('/_trigger/events', json_encode($other->signed_purchase(
    order => 'O-2', cents => 2000, promo => $code)));
%c = @{ $t->redis->hgetall($t->key_prefix . "code:$code") };
is $c{order}, 'O-1', 'a used code is not used again';

# --- the widget and the counters -----------------------------------

$r = $t->get('/_trigger/widget.js?v=1');
is $r->status, 200, 'widget script served';
like $r->header('Content-Type'), qr{^application/javascript}, 'as JavaScript';
like $r->header('Cache-Control'), qr/immutable/, 'versioned URL: immutable';
my $etag = $r->header('ETag');
$r = $t->get('/_trigger/widget.js?v=1',
             headers => [['If-None-Match', $etag]]);
is $r->status, 304, 'If-None-Match: 304';

# minified and gzipped in memory, whatever nginx's gzip settings say
my $plain_js = $r = $t->get('/_trigger/widget.js?v=1');
ok !$r->header('Content-Encoding'), 'no gzip unless asked for';
like $r->header('Vary'), qr/Accept-Encoding/, 'Vary: Accept-Encoding';
$r = $t->get('/_trigger/widget.js?v=1',
             headers => [['Accept-Encoding', 'gzip, deflate, br']]);
is $r->header('Content-Encoding'), 'gzip', 'gzip when the client takes it';
like $r->header('Vary'), qr/Accept-Encoding/, 'Vary on the gzipped one too';
isnt $r->header('ETag'), $etag, 'each encoding has its own ETag';
IO::Uncompress::Gunzip::gunzip(\($r->body) => \my $unzipped);
is $unzipped, $plain_js->body, 'the same script';
cmp_ok length $r->body, '<', 11 * 1024, 'widget.js is under 11 KB gzipped';
is $t->get('/_trigger/widget.js?v=1',
           headers => [['Accept-Encoding', 'gzip;q=0']])
       ->header('Content-Encoding'), undef, 'gzip;q=0: not gzipped';

is $t->get('/_trigger/other')->status, 404, 'unknown endpoint: 404';

# the counters are written by commands nobody waits for
wait_until(sub { (stats()->{code_used} // 0) >= 1 });
my $st = stats();
ok $st->{offer_injected} >= 5, 'pages with the offer counted';
ok $st->{offer_holdout} >= 1, 'held-out pages counted';
is $st->{visitors_held_out}, 1, 'held-out visitors counted once';
ok $st->{visitors_offered} >= 5, 'offered visitors counted';
is $st->{offer_declined}, 1, 'declines counted';
is $st->{offer_subscribed}, 3, 'subscriptions counted';
is $st->{offer_shown}, 2, 'shows counted';
is $st->{code_used}, 1, 'used codes counted';

$t->done;
