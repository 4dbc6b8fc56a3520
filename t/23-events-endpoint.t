# Integration path 3: the JSON event endpoint, POST <trigger_api location>/events
# (the contract's "trigger_events" location became "trigger_api" in 7bec13b).
# Valid single and batch events; 405, 413, 400 (malformed JSON, unknown
# type, bad values, too many events) with nothing stored; bots and
# missing consent answered 202; a visitor without a cookie gets one.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_api_purchase_key %%PURCHASE_KEY%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        location / {
            trigger on;
            add_header X-Depth $trigger_depth always;
        }
        location /trigger/ {
            trigger_api;
        }
        location /small/ {
            trigger_api;
            trigger_api_max_size 512;
        }
        # a body under the limit that nginx keeps in a temporary file
        location /buffered/ {
            trigger_api;
            trigger_api_max_size 16k;
            client_body_buffer_size 1k;
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%%;
        trigger_consent_cookie cookie_ok 1;
        location /trigger/ {
            trigger_api;
        }
    }
EOF

sub post_ok {
    my ($v, $body, $name) = @_;
    my $r = $v->post('/trigger/events', ref $body ? json_encode($body) : $body);
    is($r->status, 200, "$name: 200") or diag($r->body);
    like($r->header('Content-Type') // '', qr{^application/json}, "$name: JSON");
    my $j = $r->json;
    ok($j && $j->{ok} && JSON::PP::is_bool($j->{ok}), "$name: ok true")
        or diag($r->body);
    return ($r, $j && $j->{visitor} || {});
}

sub keys_snapshot {
    my %all;
    for my $k ($t->visitor_keys) {
        my %h = $t->redis->hgetall($k);
        $all{$k} = \%h;
    }
    return \%all;
}

# ------------------------------------------------------------- single

my $v = $t->visitor;
my ($r, $vis) = post_ok($v, { type => 'view', sku => 'A1' }, 'single view');
my $c = $r->set_cookie('trg_vid');
ok($c, 'visitor without a cookie gets one');
like($c && $c->{value}, qr/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/, 'cookie format');
is_deeply($vis, { visits => 1, depth => 0, duration => 0, since_last => 0,
                  cart_items => 0, cart_qty => 0, viewed => 1, purchases => 0 },
          'visitor state in the reply (no page view counted)');
is($v->hash->{v}, 'A1', 'view stored');
is($v->hash->{d}, 0, 'the endpoint does not count a page view');

$r = $v->get('/index.html');
is($r->header('X-Depth'), 1, 'a page view after the event: depth 1');
ok(!$r->headers('Set-Cookie'), 'cookie from the endpoint recognised by pages');

($r, $vis) = post_ok($v, { type => 'cart_add', sku => 'B2', qty => 2 }, 'cart_add');
ok(!$r->headers('Set-Cookie'), 'known visitor: no new cookie');
is($vis->{depth}, 1, 'depth unchanged by the endpoint');
is_deeply([@$vis{qw(cart_items cart_qty)}], [1, 2], 'cart in the reply');
($r, $vis) = post_ok($v, { type => 'cart_add', sku => 'B2' }, 'cart_add default qty');
is($vis->{cart_qty}, 3, 'qty defaults to 1');
($r, $vis) = post_ok($v, { type => 'cart_remove', sku => 'B2', qty => 1 }, 'cart_remove qty');
is($vis->{cart_qty}, 2, 'cart_remove qty 1');
($r, $vis) = post_ok($v, { type => 'cart_remove', sku => 'B2' }, 'cart_remove line');
is($vis->{cart_items}, 0, 'cart_remove without qty removes the line');

# ------------------------------------------------------------- batch

($r, $vis) = post_ok($v, { events => [
    { type => 'view', sku => 'C3' },
    { type => 'view', sku => 'A1' },
    { type => 'cart_add', sku => 'C3', qty => 2 },
    { type => 'cart_add', sku => 'D4', qty => 1 },
    { type => 'cart_remove', sku => 'D4' },
] }, 'batch');
is($v->hash->{v}, 'A1,C3', 'batch: views in order');
is_deeply($v->cart, { C3 => 2 }, 'batch: cart');
is_deeply([@$vis{qw(viewed cart_items cart_qty)}], [2, 1, 2], 'batch: reply');

($r, $vis) = post_ok($v, '{"type":"cart_clear"}', 'cart_clear');
is_deeply($v->cart, {}, 'cart_clear');

$v->post('/trigger/events', '{"type":"cart_add","sku":"E5","qty":3}');
($r, $vis) = post_ok($v, $v->signed_purchase(order => '1001', amount => '59.90',
                                             cents => 5990, promo => 'SPRING'),
                     'purchase, string amount');
is($vis->{purchases}, 1, 'purchase counted');
is($vis->{cart_items}, 0, 'purchase empties the cart');
like($v->orders->{1001} // '', qr/^5990 SPRING \d+$/, 'order stored');
($r, $vis) = post_ok($v, $v->signed_purchase(order => '1001', amount => '59.90',
                                             cents => 5990, promo => 'SPRING'),
                     'same order again');
is($vis->{purchases}, 1, 'duplicate order id not counted');
($r, $vis) = post_ok($v, { %{ $v->signed_purchase(order => '1002', cents => 1250) },
                          amount => 12.5 },
                     'purchase, number amount');
is($vis->{purchases}, 2, 'second purchase');
like($v->orders->{1002} // '', qr/^1250 - \d+$/, 'JSON number 12.5 = 1250 cents, no promo');
($r, $vis) = post_ok($v, { %{ $v->signed_purchase(order => '1003', cents => 700) },
                          amount => 7 },
                     'purchase, integer amount');
like($v->orders->{1003} // '', qr/^700 - \d+$/, 'JSON integer 7 = 700 cents');
is($v->hash->{r}, 5990 + 1250 + 700, 'revenue summed');

# purchases from a browser count only when the shop signed them
my $other = $t->visitor;
$other->get('/index.html');
my %forged = (
    'no signature' => { type => 'purchase', order => 'F1', amount => '10.00' },
    'a changed amount' => { %{ $v->signed_purchase(order => 'F2', cents => 100000) },
                            amount => '1.00' },
    'a changed promo' => { %{ $v->signed_purchase(order => 'F3', cents => 100,
                                                  promo => 'SPRING') },
                           promo => 'OTHER' },
    "another visitor's" => $other->signed_purchase(order => 'F4', cents => 100),
    'a wrong key' => { %{ $v->signed_purchase(order => 'F5', cents => 100) },
                       sig => 'a' x 64 },
);
for my $name (sort keys %forged) {
    $r = $v->post('/trigger/events', json_encode($forged{$name}));
    is($r->status, 403, "purchase with $name: 403");
    is($r->json && $r->json->{error}, 'invalid purchase signature',
       "purchase with $name: says why");
}
is($v->hash->{p}, 3, 'no forged purchase counted');
ok(!grep(/^F/, keys %{ $v->orders }), 'no forged order stored');
$r = $v->post('/trigger/events', json_encode({ type => 'view', sku => 'S1',
                                               sig => 'a' x 64 }));
is($r->status, 400, 'a signature on a view: 400');
$r = $v->post('/trigger/events', json_encode({ %{ $v->signed_purchase(
    order => 'F6', cents => 100) }, sig => 'abc' }));
is($r->status, 400, 'a signature of the wrong length: 400');

# exactly 20 events are allowed
my @twenty = map { { type => 'view', sku => "T$_" } } 1 .. 20;
post_ok($v, { events => \@twenty }, '20 events');
like($v->hash->{v}, qr/^T20,T19,/, '20 events stored');

# ------------------------------------------------------ 405 and 413

my $before = keys_snapshot();

for my $m (qw(GET PUT DELETE)) {
    $r = $v->request(method => $m, path => '/trigger/events',
                     ($m eq 'PUT' ? (body => '{"type":"view","sku":"X1"}') : ()));
    is($r->status, 405, "$m: 405");
    is($r->header('Allow'), 'POST', "$m: Allow: POST");
}

my $big = json_encode({ type => 'view', sku => 'BIG1', pad => 'x' x 5000 });
$r = $v->post('/trigger/events', $big);
is($r->status, 413, 'body over 4k (default trigger_api_max_size): 413');

$r = $v->post('/small/events',
              json_encode({ type => 'view', sku => 'BIG2', pad => 'x' x 600 }));
is($r->status, 413, 'body over trigger_api_max_size 512: 413');
$r = $v->post('/small/events', '{"type":"view","sku":"SMALL1"}');
is($r->status, 200, 'small body on the small endpoint: 200');

# JSON whitespace makes a valid 3 KB body, under the 16k limit but over
# client_body_buffer_size 1k: nginx writes it to a temporary file
my $padded = '{"type":"view",' . (' ' x 3000) . '"sku":"PAD1"}';
$r = $v->post('/buffered/events', $padded);
is($r->status, 200, 'body under the limit, buffered to a file: 200')
    or diag($r->body);
like($v->hash->{v} // '', qr/^PAD1/, 'buffered body: stored');
$before = keys_snapshot();

# chunked, no Content-Length
my $ok_small = '{"type":"view","sku":"CH1"}';
my $chunk = sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big);
$r = http_request(port => $t->port, raw =>
    "POST /trigger/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "User-Agent: $DEFAULT_UA\r\nCookie: trg_vid=" . $v->cookie . "\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    . $chunk);
is($r->status, 411, 'chunked body: 411, refused before it is read');
is($r->json && $r->json->{error}, 'length required', 'chunked: says why');
$r = http_request(port => $t->port, raw =>
    "POST /trigger/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "User-Agent: $DEFAULT_UA\r\nCookie: trg_vid=" . $v->cookie . "\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $ok_small, $ok_small));
is($r->status, 411, 'a small chunked body: 411 too');
ok(!$t->grep_log(qr/client request body is buffered to a temporary file/),
   'no chunked body was spooled');

# keep-alive: requests after a 200, a 405 and a 413 on one connection
{
    my $ck = "Cookie: trg_vid=" . $v->cookie . "\r\n";
    my $head = "Host: localhost\r\nUser-Agent: $DEFAULT_UA\r\n$ck"
             . "Content-Type: application/json\r\n";
    my $ok_body = '{"type":"view","sku":"KA1"}';
    my $raw = "POST /trigger/events HTTP/1.1\r\n$head"
        . "Content-Length: " . length($ok_body) . "\r\n\r\n$ok_body"
        . "GET /trigger/events HTTP/1.1\r\n$head\r\n"
        . "POST /trigger/events HTTP/1.1\r\n$head"
        . "Content-Length: " . length($big) . "\r\n\r\n$big"
        . "POST /trigger/events HTTP/1.1\r\n$head"
        . "Content-Length: " . length($ok_body) . "\r\n\r\n" . ($ok_body =~ s/KA1/KA2/r)
        . "GET /index.html HTTP/1.1\r\n${head}Connection: close\r\n\r\n";
    my $kr = http_request(port => $t->port, raw => $raw);
    my @st = $kr->raw =~ m{^HTTP/1\.1 (\d+)}mg;
    # nginx may close after the 413 instead of reading the rest
    is_deeply([@st[0 .. 2]], [200, 405, 413], 'keep-alive: 200, 405, 413 in order')
        or diag(join ' ', @st);
    if (@st > 3) {
        is_deeply([@st[3 .. $#st]], [200, 200], 'keep-alive: requests after the 413 parsed correctly');
        like($v->hash->{v} // '', qr/^KA2,KA1/, 'keep-alive: both valid posts stored');
    }
}
$before = keys_snapshot();

# -------------------------------------------------------------- 400

my @bad = (
    [ 'malformed JSON',         '{"type":"view","sku":' ],
    [ 'not JSON',               'type=view&sku=A1' ],
    [ 'empty body',             '' ],
    [ 'top-level array',        '[{"type":"view","sku":"A1"}]' ],
    [ 'top-level string',       '"view"' ],
    [ 'unknown type',           '{"type":"wishlist","sku":"A1"}' ],
    [ 'missing type',           '{"sku":"A1"}' ],
    [ 'type not a string',      '{"type":1,"sku":"A1"}' ],
    [ 'missing sku',            '{"type":"view"}' ],
    [ 'empty sku',              '{"type":"view","sku":""}' ],
    [ 'sku with a space',       '{"type":"view","sku":"A 1"}' ],
    [ 'sku with a comma',       '{"type":"view","sku":"A,1"}' ],
    [ 'sku too long',           '{"type":"view","sku":"' . ('S' x 65) . '"}' ],
    [ 'sku not a string',       '{"type":"view","sku":["A1"]}' ],
    [ 'qty 0',                  '{"type":"cart_add","sku":"A1","qty":0}' ],
    [ 'qty 1000',               '{"type":"cart_add","sku":"A1","qty":1000}' ],
    [ 'qty negative',           '{"type":"cart_add","sku":"A1","qty":-1}' ],
    [ 'qty fractional',         '{"type":"cart_add","sku":"A1","qty":1.5}' ],
    [ 'purchase without amount', '{"type":"purchase","order":"X9"}' ],
    [ 'purchase without order', '{"type":"purchase","amount":"1.00"}' ],
    [ 'amount 3 decimals',      '{"type":"purchase","order":"X9","amount":"1.234"}' ],
    [ 'amount negative',        '{"type":"purchase","order":"X9","amount":-1}' ],
    [ 'amount number 1e300',    '{"type":"purchase","order":"X9","amount":1e300}' ],
    [ 'amount string with exponent', '{"type":"purchase","order":"X9","amount":"1e3"}' ],
    [ 'amount too large',       '{"type":"purchase","order":"X9","amount":"1000000000"}' ],
    [ 'promo invalid',          '{"type":"purchase","order":"X9","amount":"1","promo":"a b"}' ],
    [ 'promo too long',         '{"type":"purchase","order":"X9","amount":"1","promo":"' . ('P' x 33) . '"}' ],
    [ 'events not an array',    '{"events":{"type":"view","sku":"A1"}}' ],
    [ 'events empty',           '{"events":[]}' ],
    [ 'too many events (21)',
      json_encode({ events => [ map { { type => 'view', sku => "Z$_" } } 1 .. 21 ] }) ],
    [ 'one invalid event in a batch',
      json_encode({ events => [ { type => 'view', sku => 'OK1' },
                                { type => 'cart_add', sku => 'OK2', qty => 2 },
                                { type => 'view', sku => 'bad sku' } ] }) ],
    [ 'trailing garbage',       '{"type":"view","sku":"A1"} x' ],
);

for my $b (@bad) {
    my ($name, $body) = @$b;
    $r = $v->post('/trigger/events', $body);
    is($r->status, 400, "400: $name") or diag($r->body);
    my $j = $r->json;
    ok($j && JSON::PP::is_bool($j->{ok}) && !$j->{ok} && length($j->{error} // ''),
       "400 body {ok:false, error}: $name") or diag($r->body);
}

# POST without any body nor Content-Length
$r = http_request(port => $t->port, raw =>
    "POST /trigger/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    . "Content-Type: application/json\r\n"
    . "User-Agent: $DEFAULT_UA\r\nCookie: trg_vid=" . $v->cookie . "\r\n\r\n");
is($r->status, 400, '400: POST without a body') or diag($r->body);

is_deeply(keys_snapshot(), $before,
          'nothing stored by any 405, 413 or 400 request');

# "at most 2 fraction digits" holds for a JSON number too (a fresh
# visitor, so that a wrong acceptance does not spoil the checks above)
my $fv = $t->visitor;
$fv->get('/index.html');
$r = $fv->post('/trigger/events', '{"type":"purchase","order":"X10","amount":1.234}');
is($r->status, 400, '400: amount as a JSON number with 3 decimals') or diag($r->body);
ok(!exists $fv->orders->{X10}, 'amount 1.234 (JSON number): no order stored');

# a new visitor's invalid request stores nothing either
my $n_keys = () = $t->visitor_keys;
$r = http_post($t->port, '/trigger/events', '{"type":"view","sku":"bad sku"}');
is($r->status, 400, 'new visitor, invalid event: 400');
is(scalar(() = $t->visitor_keys), $n_keys, 'no key created');

# ------------------------------------------------------ bots, consent

my $bot = $t->visitor(ua => 'Mozilla/5.0 (compatible; bingbot/2.0)');
$r = $bot->post('/trigger/events', '{"type":"view","sku":"BOT1"}');
is($r->status, 202, 'bot: 202');
is_deeply($r->json, { ok => JSON::PP::true, tracked => JSON::PP::false, reason => 'bot' },
          'bot: reply says why');
ok(!$r->headers('Set-Cookie'), 'bot: no cookie');

$r = http_post($t->port, '/trigger/events', '{"type":"view","sku":"BOT2"}',
              ua => 'NONE');
is($r->status, 202, 'no User-Agent: 202');

my $nc = $t->visitor(port => $t->port(2));
$r = $nc->post('/trigger/events', '{"type":"view","sku":"NC1"}');
is($r->status, 202, 'no consent: 202');
is(($r->json // {})->{reason}, 'no_consent', 'no consent: reason');
ok(!$r->headers('Set-Cookie'), 'no consent: no cookie');

$nc->set_cookie_value(cookie_ok => 1);
$r = $nc->post('/trigger/events', '{"type":"view","sku":"NC2"}');
is($r->status, 200, 'with consent: 200');
ok($r->set_cookie('trg_vid'), 'with consent: cookie set');
is($nc->hash->{v}, 'NC2', 'with consent: stored');

my @leaked = grep {
    my %h = $t->redis->hgetall($_);
    join(',', %h) =~ /BOT1|BOT2|NC1/;
} grep { !/:o$/ } $t->visitor_keys;
is(scalar @leaked, 0, 'bot and no-consent events never stored');

$t->done;
