#!/usr/bin/perl
# The offer's controls: the close pause, the code's reminder (and the
# same code on a second device), the staff preview, A/B variants counted
# per variant, the widget's new settings and their configuration errors.

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;

my $t = TriggerTest->new;
$t->start_redis;

$t->write_file('html/index.html', "<html><body>shop</body></html>\n");
$t->write_file('products.json',
               '[{"sku": "A1", "name": "Linen shirt", "price": "59.90"}]');

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_api_purchase_key %%PURCHASE_KEY%%;
    trigger_products %%TMP%%/products.json;
    trigger_offer_cap 100 1d;
    trigger_subscribe_limit 100 1h;
    trigger_subscribe_limit_ip 1000 1h;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;

        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 2;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;
        trigger_widget_lang fr;
        trigger_widget_signals top idle=20 idle_desktop=45;
        trigger_widget_accent "#336699";
        trigger_offer_variant a weight=1 discount=10%;
        trigger_offer_variant b weight=3 discount=15% format=slidein
                              accent=#1a7f37 "title=Hello B";
        add_header X-Offer $trigger_offer always;

        location / { }

        location /plain/ {
            alias %%HTML%%/;
            trigger_offer_variant x weight=1;
            trigger_offer_variant y weight=0;
            trigger_widget_consent on;
            trigger_widget_format bar-top;
            trigger_offer_close_pause 0;
        }

        location /noreminder/ {
            alias %%HTML%%/;
            trigger_widget_reminder off;
        }

        location /_trigger/ { trigger_api; }
        location /_admin/ { trigger_admin; }
    }
EOF

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

sub offered {
    my $v = $t->visitor;
    $v->get('/index.html');
    my $r = $v->get('/index.html');
    return ($v, $r);
}

# --- the bootstrap's new fields, and the variant -----------------------

my ($v, $r) = offered();
is $r->header('X-Offer'), 'eligible', 'second page: eligible';
my $d = offer_data($r);
ok $d, 'the bootstrap';
is $d->{lang}, 'fr', 'lang';
is $d->{consent}, undef, 'no consent checkbox';
is_deeply $d->{signals}, { top => JSON::PP::true, back => JSON::PP::false,
    tab => JSON::PP::false, scroll => JSON::PP::false, idle => 20,
    idle_desktop => 45 }, 'signals with idle_desktop';
is $d->{close_pause}, 4 * 3600, 'close pause, 4h by default';
ok $d->{reminder}, 'the reminder is on';
ok !exists $d->{preview}, 'no preview';
like $d->{variant}, qr/^[ab]$/, 'a variant';

my $variant = $d->{variant};
for (1 .. 3) {
    is offer_data($v->get('/index.html'))->{variant}, $variant,
        'the same variant on every page';
}

if ($variant eq 'b') {
    is $d->{discount}, '15%', "variant b's discount";
    is $d->{format}, 'slidein', "variant b's format";
    is $d->{accent}, '#1a7f37', "variant b's accent";
    is $d->{texts}{title}, 'Hello B', "variant b's text";
} else {
    is $d->{discount}, '10%', "variant a's discount";
    is $d->{format}, 'modal', 'the default format';
    is $d->{accent}, '#336699', "the location's accent";
    is $d->{texts}{title}, undef, 'no text of b';
}

$r = $v->get('/plain/index.html');
$d = offer_data($r);
is $d->{variant}, 'x', 'weight 0 is never drawn';
is $d->{consent}, JSON::PP::true, 'consent on: the built-in label';
is $d->{format}, 'bar-top', 'trigger_widget_format';
is $d->{close_pause}, 0, 'close pause off';

# weights 1:3 over many visitors, counted per variant once each
my %n;
for (1 .. 200) {
    my ($w, $res) = offered();
    $n{ offer_data($res)->{variant} // 'none' }++;
}
ok $n{a} > 20 && $n{a} < 80 && $n{b} > 120 && $n{b} < 180,
    "weights 1:3 honoured ($n{a}:$n{b})";

ok wait_until(sub { (stats()->{visitors_offered} // 0) >= 201 }),
    'offered visitors counted';
my $st = stats();
is $st->{'visitors_offered:a'} + $st->{'visitors_offered:b'}
   + ($st->{'visitors_offered:x'} // 0), $st->{visitors_offered},
    'offered visitors counted per variant';

# --- the close pause ----------------------------------------------------

($v, $r) = offered();
my $token = offer_data($r)->{token};
my $closed = stats()->{offer_closed} // 0;

is $v->post('/_trigger/close', json_encode({ token => 'x.y' }))->status,
    403, 'close with a bad token: 403';
is $v->post('/_trigger/close', json_encode({ token => $token }),
            headers => [['Sec-Fetch-Site', 'cross-site']])->status,
    403, 'close from another site: 403';
is $v->request(path => '/_trigger/close')->status, 405, 'GET close: 405';

$r = $v->post('/_trigger/close', json_encode({ token => $token }));
is $r->status, 204, 'close: 204';
is $r->body, '', 'no body';
ok $v->hash->{y} >= time - 5, 'closed at, on the visitor';

$r = $v->get('/index.html');
is $r->header('X-Offer'), 'paused', 'offers pause after a close';
ok !offer_data($r), 'no offer';
is $v->get('/plain/index.html')->header('X-Offer'), 'eligible',
    'where the close pause is off: offered';
ok wait_until(sub { (stats()->{offer_closed} // 0) == $closed + 1 }),
    'offer_closed counted';

# an expired visitor is not made again by a close
$t->redis->del($v->key);
is $v->post('/_trigger/close', json_encode({ token => $token }))->status,
    204, 'close of a forgotten visitor: 204';
ok !$t->redis->exists($v->key), 'nothing stored';

# --- the reminder, the second device -----------------------------------

($v, $r) = offered();
$d = offer_data($r);
my $vv = $d->{variant};
$r = $v->post('/_trigger/subscribe', json_encode({ token => $d->{token},
    email => 'ann@example.com', consent => JSON::PP::true }));
is $r->status, 200, 'subscribed';
my ($code, $expires) = ($r->json->{code}, $r->json->{expires_at});
is $v->hash->{k}, $code, 'the code on the visitor';
is $t->redis->hget($t->key_prefix . "code:$code", 'variant'), $vv,
    "the code keeps the visitor's variant";

$r = $v->get('/index.html');
is $r->header('X-Offer'), 'active', 'a valid code: active';
$d = offer_data($r);
is_deeply $d->{reminder}, { code => $code, expires => $expires },
    'the reminder';
ok !exists $d->{token} && !exists $d->{items}, 'no token, no items';
is $d->{api}, '/_trigger/', 'api';
is $d->{lang}, 'fr', 'lang';
ok exists $d->{texts} && exists $d->{accent}, 'texts and accent';
like $r->header('Cache-Control'), qr/^private/, 'private';
ok !offer_data($v->get('/noreminder/index.html')),
    'trigger_widget_reminder off: none';

my $shown = stats()->{"offer_shown:$vv"} // 0;
is $v->post('/_trigger/events',
            json_encode({ events => [{ type => 'offer_shown' }] }))->status,
    200, 'shown';
ok wait_until(sub { (stats()->{"offer_shown:$vv"} // 0) == $shown + 1 }),
    'shown counted for the variant';

my ($v2, $r2) = offered();
$r2 = $v2->post('/_trigger/subscribe', json_encode({
    token => offer_data($r2)->{token}, email => 'Ann@example.com',
    consent => JSON::PP::true }));
is $r2->status, 200, 'the same address from another device';
is_deeply [sort keys %{ $r2->json }], [qw(code expires_at ok)],
    'the same answer shape';
is $r2->json->{code}, $code, 'the same code';
is offer_data($v2->get('/index.html'))->{reminder}{code}, $code,
    'the second device gets the reminder';

my $used = stats()->{"code_used:$vv"} // 0;
is $v->post('/_trigger/events', json_encode({ events => [
    $v->signed_purchase(order => 'R1', cents => 1000, promo => $code) ] }))
    ->status, 200, 'the code used';
ok wait_until(sub { (stats()->{"code_used:$vv"} // 0) == $used + 1 }),
    'code_used counted for the variant';
$r = $v->get('/index.html');
is $r->header('X-Offer'), 'purchased', 'purchased';
ok !offer_data($r), 'no reminder once the code is used';

# a used code is not handed out again
my ($v3, $r3) = offered();
$r3 = $v3->post('/_trigger/subscribe', json_encode({
    token => offer_data($r3)->{token}, email => 'ann@example.com',
    consent => JSON::PP::true }));
isnt $r3->json->{code}, $code, 'a used code: a new one';

# an expired code: no reminder
($v3, $r3) = offered();
$r3 = $v3->post('/_trigger/subscribe', json_encode({
    token => offer_data($r3)->{token}, email => 'old@example.com',
    consent => JSON::PP::true }));
$t->redis->hset($v3->key, 'a', time - 1);
$r3 = $v3->get('/index.html');
isnt $r3->header('X-Offer'), 'active', 'an expired code: not active';
ok !($r3->body =~ /"reminder":\{/), 'no reminder';

ok wait_until(sub { (stats()->{"offer_subscribed:$vv"} // 0) >= 1 }),
    'subscriptions counted per variant';

# --- the preview --------------------------------------------------------

$r = $t->get('/_admin/preview?to=/index.html%3Fq%3D1&variant=b'
             . '&format=bar-bottom&lang=de');
is $r->status, 302, 'preview: 302';
like $r->header('Location'), qr{^(http://[^/]+)?/index.html%3Fq%3D1$},
    'to the page';
my $c = $r->set_cookie('trg_preview');
ok $c && $c->{value}, 'the preview cookie';
is $c->{attrs}{'max-age'}, 3600, 'an hour';
ok exists $c->{attrs}{httponly}, 'HttpOnly';
is lc $c->{attrs}{samesite}, 'lax', 'SameSite=Lax';
is $c->{attrs}{path}, '/', 'Path=/';

for my $to ('//evil.example/', 'http://evil.example/', '/%2Fevil.example',
            '/\\evil', '/a%0d%0aX:%20y') {
    is $t->get('/_admin/preview?to=' . $to)->status, 400,
        "preview to $to refused";
}
is $t->get('/_admin/preview?to=/&format=popup')->status, 400,
    'unknown format refused';

# counters are sent once a second: a close counted marks what went before
sub settled {
    my $before = stats()->{offer_closed} // 0;
    $t->visitor->post('/_trigger/events',
        json_encode({ events => [{ type => 'offer_closed' }] }));
    return wait_until(sub { (stats()->{offer_closed} // 0) > $before });
}

ok settled(), 'counters sent';
$st = stats();
my $p = $t->visitor(cookies => { trg_preview => $c->{value} });
$r = $p->get('/index.html');
is $r->header('X-Offer'), 'preview', 'the first page: preview';
$d = offer_data($r);
ok $d->{preview}, 'preview: true';
is $d->{variant}, 'b', 'the variant chosen';
is $d->{format}, 'bar-bottom', 'the format chosen';
is $d->{lang}, 'de', 'the language chosen';
is $d->{discount}, '15%', "the variant's discount";
ok !$p->hash->{h}, 'no group drawn';
is $p->get('/plain/index.html')->header('X-Offer'), 'preview',
    'preview in another location';
is offer_data($p->get('/plain/index.html'))->{variant}, 'x',
    'a variant not there: the visitor\'s own';

ok settled(), 'counters sent again';
is stats()->{offer_injected}, $st->{offer_injected}, 'no offer_injected';
is stats()->{visitors_offered}, $st->{visitors_offered},
    'no visitor offered';

my $forged = $c->{value};
$forged =~ s/^b:/a:/;
$r = $t->visitor(cookies => { trg_preview => $forged })->get('/index.html');
is $r->header('X-Offer'), 'shallow', 'a forged preview cookie: ignored';
$r = $t->visitor(cookies => { trg_preview => 'b::.1.abc' })
       ->get('/index.html');
is $r->header('X-Offer'), 'shallow', 'an expired one too';

$r = $p->get('/_admin/preview?off');
is $r->status, 302, 'preview off: 302';
like $r->header('Location'), qr{/$}, 'to /';
is $r->set_cookie('trg_preview')->{attrs}{'max-age'}, 0, 'cookie cleared';

# --- the statistics in the admin location ------------------------------

$r = $t->get('/_admin/stats');
is $r->status, 200, 'stats';
ok $r->json->{counters}{visitors_offered} >= 201, 'the counters';
ok $r->json->{counters}{variants}{b}{visitors_offered} > 0,
    'per variant';
is $t->get('/_admin/stats?day=2001')->status, 400, 'a bad day: 400';
is_deeply $t->get('/_admin/stats?day=20010101')->json,
    { day => '20010101', counters => {} }, 'a day without counters';

# --- configuration errors -----------------------------------------------

for my $case (
    [ 'trigger_offer_variant a weight=1;', '2 to 5 variants' ],
    [ join('', map { "trigger_offer_variant v$_ weight=1;" } 1 .. 6),
      'at most 5' ],
    [ 'trigger_offer_variant a weight=x; trigger_offer_variant b weight=1;',
      'invalid weight' ],
    [ 'trigger_offer_variant a; trigger_offer_variant b weight=1;',
      'invalid number of arguments' ],
    [ 'trigger_offer_variant a discount=5%; trigger_offer_variant b weight=1;',
      'needs weight' ],
    [ 'trigger_offer_variant a weight=1 format=popup;', 'invalid format' ],
    [ 'trigger_offer_variant a weight=1 accent=red;', 'invalid accent' ],
    [ 'trigger_offer_variant a weight=1 nope=x;', 'unknown widget text' ],
    [ 'trigger_offer_variant a weight=1; trigger_offer_variant a weight=1;',
      'duplicate variant' ],
    [ 'trigger_offer_variant a:b weight=1;', 'invalid variant name' ],
    [ 'trigger_offer_variant a weight=0; trigger_offer_variant b weight=0;',
      'all 0' ],
    [ 'trigger_widget_lang it;', 'must be' ],
    [ 'trigger_widget_format popup;', 'invalid value' ],
    [ 'trigger_widget_accent red;', 'must be a colour' ],
    [ 'trigger_widget_signals idle_desktop=0;', 'invalid idle_desktop' ],
    [ 'trigger_widget_reminder maybe;', 'invalid value' ],
    [ 'trigger_offer_close_pause soon;', 'invalid value' ],
) {
    my ($conf, $want) = @$case;
    my ($ok, $out) = $t->nginx_t(http => <<"EOF");
    %%TRIGGER_BASE%%
    server {
        listen 127.0.0.1:%%PORT%%;
        trigger on;
        trigger_offer on;
        $conf
        location /_trigger/ { trigger_api; }
    }
EOF
    ok !$ok && $out =~ /\Q$want\E/, "refused: $conf" or diag $out;
}

$t->done;
