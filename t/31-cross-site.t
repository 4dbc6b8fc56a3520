# State changes through the endpoints come from the shop's own pages:
# JSON only, same-origin when the browser says where it comes from; a
# cross-site request changes nothing and never gets a new visitor id.
# What the module serves is never sniffed; on https the cookie is Secure.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

my $dir = $t->dir;
system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/key.pem"
       . " -out $dir/cert.pem -days 2 -subj /CN=localhost 2>/dev/null") == 0
    or BAIL_OUT('openssl could not make a test certificate');

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT2%% ssl;
        ssl_certificate %%TMP%%/cert.pem;
        ssl_certificate_key %%TMP%%/key.pem;
        root %%HTML%%;
        trigger on;

        location /_trigger/ {
            trigger_api;
        }
    }
EOF

my $body = '{"type":"view","sku":"X1"}';
my $n_keys = sub { scalar(() = $t->visitor_keys) };

# a form on another site: text/plain, no cookie
my $keys = $n_keys->();
my $r = http_post($t->port, '/_trigger/events', $body,
                  headers => [['Content-Type', 'text/plain'],
                              ['Origin', 'https://evil.example'],
                              ['Sec-Fetch-Site', 'cross-site']]);
is($r->status, 415, 'text/plain: 415');
is($r->json && $r->json->{error}, 'content type must be application/json',
   'says why');
ok(!$r->headers('Set-Cookie'), 'text/plain: no new visitor id');
is($n_keys->(), $keys, 'text/plain: nothing stored');

for my $type ('application/x-www-form-urlencoded', 'multipart/form-data',
              'application/jsonp', '') {
    $r = http_post($t->port, '/_trigger/events', $body,
                   headers => [$type ? ['Content-Type', $type] : ()]);
    is($r->status, 415, "'$type': 415");
}
$r = http_post($t->port, '/_trigger/events', $body,
               headers => [['Content-Type', 'application/json; charset=utf-8']]);
is($r->status, 200, 'application/json with a charset: 200');

# a known visitor's browser, sent from another site
my $v = $t->visitor;
$v->get('/index.html');
my $cookie = $v->cookie;
my $depth = $v->hash->{d};
for my $case (['Sec-Fetch-Site', 'cross-site'],
              ['Sec-Fetch-Site', 'same-site'],
              ['Origin', 'https://evil.example'],
              ['Origin', 'http://localhost.evil.example'],
              ['Origin', 'null']) {
    for my $ep (qw(events subscribe decline)) {
        $r = $v->post("/_trigger/$ep", $body, headers => [$case]);
        is($r->status, 403, "$ep, $case->[0]: $case->[1]: 403");
        is($r->json && $r->json->{error}, 'cross-site request',
           "$ep, $case->[1]: says why");
        ok(!$r->headers('Set-Cookie'), "$ep, $case->[1]: no new id");
    }
}
is($v->cookie, $cookie, 'the visitor keeps its id');
ok(!$v->hash->{v1}, 'cross-site events stored nothing');

# the shop's own pages
$r = $v->post('/_trigger/events', $body,
              headers => [['Sec-Fetch-Site', 'same-origin'],
                          ['Origin', 'http://localhost']]);
is($r->status, 200, 'same-origin: 200');
is($v->hash->{v1}, 'X1', 'same-origin: stored');
$r = $v->post('/_trigger/events', $body);
is($r->status, 200, 'no Origin, no Sec-Fetch-Site (a server): 200');

# without trigger_api_purchase_key a browser cannot report a purchase:
# not even a signed one, and a promo code is not marked used
$t->redis->hset($t->key_prefix . 'code:AAAA-BBBB-CCCC', 'used', 0,
                'expires', time + 3600);
$r = $v->post('/_trigger/events', json_encode($v->signed_purchase(
    order => 'P1', cents => 100, promo => 'AAAA-BBBB-CCCC')));
is($r->status, 403, 'purchase from a browser: 403');
is($r->json && $r->json->{error},
   "purchases are taken from the shop's server only", 'says why');
is($t->redis->hget($t->key_prefix . 'code:AAAA-BBBB-CCCC', 'used'), 0,
   'the code is not used');
ok(!$v->hash->{p}, 'no purchase counted');

# nothing the module serves is sniffed
is($r->header('X-Content-Type-Options'), 'nosniff', 'JSON: nosniff');
$r = http_get($t->port, '/_trigger/widget.js');
is($r->header('X-Content-Type-Options'), 'nosniff', 'widget.js: nosniff');
$r = http_get($t->port, '/_trigger/nothing');
is($r->header('X-Content-Type-Options'), 'nosniff', '404: nosniff');

# on https the new cookie is Secure, on http it is not
$r = http_get($t->port, '/index.html');
ok(!$r->set_cookie('trg_vid')->{attrs}{secure}, 'http: not Secure');
my $port2 = $t->port(2);
my $headers = `curl -sk -D - -o /dev/null -A '$DEFAULT_UA' https://localhost:$port2/index.html`;
like($headers, qr/^Set-Cookie: trg_vid=[^\r\n]*; Secure/mi, 'https: Secure');

$t->done;
