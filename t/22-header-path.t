# Integration path 2: the upstream (here a server block of the same
# nginx, proxied to) adds X-Trigger-* response headers; in a location with
# "trigger on" the module stores them (fire-and-forget: poll Redis) and
# removes them from the client's response.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

my @many = map { "add_header X-Trigger-View M$_;" } 1 .. 25;
my $many = join "\n            ", @many;

$t->start_nginx(http => <<"EOF");
    %%TRIGGER_BASE%%

    # the shop application
    server {
        listen 127.0.0.1:%%PORT2%%;
        root %%HTML%%;
        location / {
            # the test says what to send in request headers (proxied)
            add_header X-Trigger-View \$http_x_view;
            add_header X-Trigger-Cart-Add \$http_x_add;
            add_header X-Trigger-Cart-Remove \$http_x_remove;
            add_header X-Trigger-Cart-Clear \$http_x_clear;
            add_header X-Trigger-Purchase \$http_x_purchase;
            add_header X-Other keep-me;
            try_files /index.html =404;
        }
        location /multi {
            add_header X-Trigger-View A1;
            add_header X-Trigger-View B2;
            add_header X-Trigger-Cart-Add "C3 2";
            add_header X-Trigger-Cart-Add "D4";
            add_header X-Trigger-Cart-Remove "C3 1";
            try_files /index.html =404;
        }
        location /lower {
            add_header x-trigger-view LOW1;
            add_header X-TRIGGER-CART-ADD "LOW2 3";
            try_files /index.html =404;
        }
        location /many {
            $many
            try_files /index.html =404;
        }
        location /error {
            add_header X-Trigger-View ERR1 always;
            return 500;
        }
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        trigger on;
        add_header X-TS \$trigger_status always;
        add_header X-Depth \$trigger_depth always;

        location / {
            proxy_pass http://127.0.0.1:%%PORT2%%;
        }
        location /untracked/ {
            trigger off;
            proxy_pass http://127.0.0.1:%%PORT2%%/;
        }
    }
EOF

sub trigger_headers {
    my ($r) = @_;
    return grep { /^x-trigger-(view|cart-add|cart-remove|cart-clear|purchase)$/i }
           $r->header_names;
}

# ---------------------------------------------------------------- basics

my $v = $t->visitor;
my $r = $v->get('/', headers => [['X-View', 'P1']]);
is($r->status, 200, 'proxied page served');
is(status_seen($r->header('X-TS')), 'tracked', 'page tracked');
ok($r->set_cookie('trg_vid'), 'new visitor: cookie set');
is_deeply([trigger_headers($r)], [], 'X-Trigger-View removed from the response');
is($r->header('X-Other'), 'keep-me', 'other upstream headers kept');
ok(wait_until(sub { ($v->hash->{v} // '') eq 'P1' }),
   'view from the header stored for the new visitor');
is($v->hash->{d}, 1, 'the header events do not count another page view');

$r = $v->get('/', headers => [['X-Add', 'A1 2']]);
ok(wait_until(sub { ($v->cart->{A1} // 0) == 2 }), 'X-Trigger-Cart-Add: SKU QTY');
$r = $v->get('/', headers => [['X-Add', 'A1']]);
ok(wait_until(sub { ($v->cart->{A1} // 0) == 3 }), 'X-Trigger-Cart-Add: SKU (qty 1)');
$r = $v->get('/', headers => [['X-Remove', 'A1 1']]);
ok(wait_until(sub { ($v->cart->{A1} // 0) == 2 }), 'X-Trigger-Cart-Remove: SKU QTY');
$r = $v->get('/', headers => [['X-Add', 'B1 5']]);
ok(wait_until(sub { ($v->cart->{B1} // 0) == 5 }), 'second line');
$r = $v->get('/', headers => [['X-Remove', 'B1']]);
ok(wait_until(sub { !exists $v->cart->{B1} }), 'X-Trigger-Cart-Remove: SKU (the line)');
$r = $v->get('/', headers => [['X-Clear', '1']]);
ok(wait_until(sub { !%{$v->cart} }), 'X-Trigger-Cart-Clear empties the cart');
is_deeply([trigger_headers($r)], [], 'Cart-Clear header removed');

$v->get('/', headers => [['X-Add', 'C1']]);
wait_until(sub { exists $v->cart->{C1} });
$r = $v->get('/', headers => [['X-Purchase', 'O-77 42.10 SUMMER']]);
ok(wait_until(sub { ($v->hash->{p} // 0) == 1 }), 'X-Trigger-Purchase stored');
like($v->orders->{'O-77'} // '', qr/^4210 SUMMER \d+$/, 'order: cents, promo');
is($v->hash->{r}, 4210, 'revenue');
is_deeply($v->cart, {}, 'purchase empties the cart');
is_deeply([trigger_headers($r)], [], 'Purchase header removed');

$r = $v->get('/', headers => [['X-Purchase', 'O-77 42.10 SUMMER']]);
$r = $v->get('/', headers => [['X-Purchase', 'O-78 1']]);
ok(wait_until(sub { ($v->hash->{p} // 0) == 2 }), 'second order stored');
is($v->hash->{p}, 2, 'duplicate order id not counted');
like($v->orders->{'O-78'} // '', qr/^100 - \d+$/, 'order without promo');

# ------------------------------------------------------------- several

$v = $t->visitor;
$r = $v->get('/multi');
is_deeply([trigger_headers($r)], [], 'repeated headers all removed');
ok(wait_until(sub { ($v->hash->{v} // '') eq 'B2,A1' }),
   'two X-Trigger-View headers, in order');
ok(wait_until(sub { my $c = $v->cart; ($c->{C3} // 0) == 1 && ($c->{D4} // 0) == 1 }),
   'cart add, add, remove applied in order')
    or diag(explain $v->cart);

$r = $v->get('/lower');
is_deeply([trigger_headers($r)], [], 'header names are case-insensitive: removed');
ok(wait_until(sub { ($v->hash->{v} // '') =~ /^LOW1,/ && ($v->cart->{LOW2} // 0) == 3 }),
   'lower/upper case header names stored');

$r = $v->get('/many');
is_deeply([trigger_headers($r)], [], '25 event headers: all removed');
ok(wait_until(sub { ($v->hash->{v} // '') =~ /^M/ }), 'some of the 25 stored');
is($r->status, 200, 'too many event headers: page still served');

# --------------------------------------------------------------- invalid

$v = $t->visitor;
$v->get('/');
ok(wait_until(sub { ($v->hash->{d} // 0) == 1 }), 'visitor known');
for my $bad ('bad sku x', ',', 'A1 0', 'A1 1000', 'A1 x') {
    $r = $v->get('/', headers => [['X-Add', $bad]]);
    is($r->status, 200, "invalid X-Trigger-Cart-Add '$bad': page served");
    is_deeply([trigger_headers($r)], [], "invalid header '$bad' removed too");
}
$r = $v->get('/', headers => [['X-Purchase', 'O1']]);
is_deeply([trigger_headers($r)], [], 'purchase without amount: removed');
$r = $v->get('/', headers => [['X-Purchase', 'O1 1.001']]);
# a valid event after the invalid ones proves the earlier ones were skipped
$r = $v->get('/', headers => [['X-View', 'LAST']]);
ok(wait_until(sub { ($v->hash->{v} // '') eq 'LAST' }), 'valid event after invalid ones');
is_deeply($v->cart, {}, 'invalid cart headers stored nothing');
ok(!exists $v->hash->{p}, 'invalid purchases stored nothing');

# "SKU [QTY]" has at most two values
$r = $v->get('/', headers => [['X-Add', 'T1 2 3']]);
$v->get('/', headers => [['X-View', 'AFTER-T1']]);
wait_until(sub { ($v->hash->{v} // '') =~ /^AFTER-T1/ });
ok(!exists $v->cart->{T1}, '"SKU QTY EXTRA" is not a valid cart add');
ok($t->grep_log(qr/\[info\].*X-Trigger-Cart-Add.*ignored/i),
   'invalid header logged at info');

# ------------------------------------------------- error responses, bots

$r = $v->get('/error');
is($r->status, 500, 'upstream 500 passed through');
is_deeply([trigger_headers($r)], [], 'headers removed from an error response');

my $bot = $t->visitor(ua => 'Mozilla/5.0 (compatible; Googlebot/2.1)');
$r = $bot->get('/', headers => [['X-View', 'BOT1']]);
is($r->header('X-TS'), 'bot', 'bot: not tracked');
ok(!$r->headers('Set-Cookie'), 'bot: no cookie');
is_deeply([trigger_headers($r)], [], 'bot: event headers removed anyway');

# ------------------------------------------------------- trigger off

$v = $t->visitor;
$r = $v->get('/untracked/', headers => [['X-View', 'U1']]);
is($r->status, 200, 'trigger off: proxied');
is($r->header('X-Trigger-View'), 'U1',
   'trigger off: event headers pass through untouched');
ok(!$r->headers('Set-Cookie'), 'trigger off: no cookie');

# nothing anywhere mentions BOT1 or U1
sleep 0.3;
my @leaked = grep {
    my %h = $t->redis->hgetall($_);
    join(',', %h) =~ /BOT1|U1/;
} grep { !/:o$/ } $t->visitor_keys;
is(scalar @leaked, 0, 'bot and untracked events never stored');

$t->done;
