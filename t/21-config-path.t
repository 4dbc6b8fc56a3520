# Integration path 1: events from location directives whose values are
# complex values ($arg_sku, $cookie_*, $http_*, literals mixed with
# variables); invalid and empty values; several events in one location;
# internal redirects and subrequests count once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");
$t->write_file('html/ssi.html',
    "<html><!--# include virtual=\"/inc/?sku=SSI1\" --></html>\n");
$t->write_file('html/inc/index.html', "included\n");

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-Trigger-Status $trigger_status always;
        add_header X-Depth $trigger_depth always;
        add_header X-Cart-Qty $trigger_cart_qty always;

        location = /p {
            trigger_view "SKU-$arg_id";
            try_files /index.html =404;
        }
        location = /c {
            trigger_view $cookie_last_sku;
            try_files /index.html =404;
        }
        location = /h {
            trigger_view $http_x_sku;
            try_files /index.html =404;
        }
        location = /buy-now {
            trigger_view $arg_sku;
            trigger_cart_add $arg_sku $arg_qty;
            try_files /index.html =404;
        }
        location = /rm {
            trigger_cart_remove $arg_sku $arg_qty;
            try_files /index.html =404;
        }
        location = /order {
            trigger_purchase $arg_id $arg_amount $arg_promo;
            try_files /index.html =404;
        }
        location = /ajax-add {
            trigger_pageview off;
            trigger_cart_add $arg_sku;
            try_files /index.html =404;
        }
        location = /off {
            trigger off;
            trigger_view $arg_sku;
            try_files /index.html =404;
        }
        # internal redirect to a tracked location: counted once
        location = /redirect {
            trigger_view $arg_sku;
            try_files /missing.html /index.html?from=redirect;
        }
        location = /missing {
            trigger_view $arg_sku;
            error_page 404 /index.html;
        }
        location /inc/ {
            trigger_view $arg_sku;
        }
        location = /ssi.html {
            ssi on;
        }
    }
EOF

my $v = $t->visitor;

my $r = $v->get('/p?id=42');
is(status_seen($r->header('X-Trigger-Status')), 'tracked', 'new visitor tracked');
ok($r->set_cookie('trg_vid'), 'new visitor gets a cookie');
is($v->hash->{v}, 'SKU-42', 'literal + $arg_id');

$v->set_cookie_value(last_sku => 'K7');
$v->get('/c');
is($v->hash->{v}, 'K7,SKU-42', '$cookie_last_sku');

$r = $v->get('/h', headers => [['X-Sku', 'a:b/c@d+e#f.g_h-i']]);
is($v->hash->{v}, 'a:b/c@d+e#f.g_h-i,K7,SKU-42',
   '$http_x_sku with every allowed punctuation');

my $sku64 = 'S' x 64;
$v->get('/h', headers => [['X-Sku', $sku64]]);
like($v->hash->{v}, qr/^$sku64,/, '64-char SKU accepted');

my $before = $v->hash->{v};
$r = $v->get('/h', headers => [['X-Sku', 'S' x 65]]);
is($r->status, 200, '65-char SKU: page served');
is(status_seen($r->header('X-Trigger-Status')), 'tracked', '65-char SKU: page still tracked');
is($v->hash->{v}, $before, '65-char SKU: event ignored');
ok($t->grep_log(qr/\[info\].*trigger: event ignored/),
   'an ignored event is logged at info');

$r = $v->get('/h', headers => [['X-Sku', 'a,b']]);
is($v->hash->{v}, $before, 'comma is not allowed in a SKU: ignored');
$r = $v->get('/h', headers => [['X-Sku', 'a b']]);
is($v->hash->{v}, $before, 'space is not allowed in a SKU: ignored');

my $depth = $v->hash->{d};
$r = $v->get('/c', cookies => { trg_vid => $v->cookie });   # no last_sku
$v->set_cookie_value(last_sku => undef);
$r = $v->get('/c');
is($v->hash->{d}, $depth + 2, 'empty variable: a page view without event');
is($v->hash->{v}, $before, 'empty variable: no event');

# two events in one location
$v = $t->visitor;
$r = $v->get('/buy-now?sku=B1&qty=3');
is($v->hash->{v}, 'B1', 'two events: view');
is_deeply($v->cart, { B1 => 3 }, 'two events: cart_add with $arg_qty');
$r = $v->get('/buy-now?sku=B1');
is_deeply($v->cart, { B1 => 4 }, 'empty $arg_qty: quantity 1');
$r = $v->get('/buy-now?sku=B2&qty=abc');
is_deeply($v->cart, { B1 => 4 }, 'qty "abc": cart_add ignored');
is($v->hash->{v}, 'B2,B1', 'qty "abc": the valid view still stored');
$r = $v->get('/rm?sku=B1&qty=');
is_deeply($v->cart, {}, 'cart_remove with an empty qty removes the line');

$r = $v->get('/order?id=ORD:1/2&amount=19.5');
like($v->orders->{'ORD:1/2'} // '', qr/^1950 - \d+$/,
     'purchase from variables, empty promo, amount 19.5 = 1950 cents');
$r = $v->get('/order?id=ORD-2&amount=7.25&promo=X_1-y');
like($v->orders->{'ORD-2'} // '', qr/^725 X_1-y \d+$/, 'promo from $arg_promo');
$r = $v->get('/order?id=ORD-3&amount=1e3');
ok(!exists $v->orders->{'ORD-3'}, 'amount 1e3 is invalid: ignored');
$r = $v->get('/order?id=ORD-4&amount=1000000000');
ok(!exists $v->orders->{'ORD-4'}, 'amount >= 10^9 is invalid: ignored');
$r = $v->get('/order?id=ORD-5&amount=999999999.99');
ok(exists $v->orders->{'ORD-5'}, 'amount just below 10^9 accepted');
is($v->hash->{p}, 3, 'three purchases');

# trigger_pageview off: the event is stored, the depth is not increased
$depth = $v->hash->{d};
$r = $v->get('/ajax-add?sku=Q1');
is(status_seen($r->header('X-Trigger-Status')), 'tracked', 'pageview off: tracked');
is($v->hash->{d}, $depth, 'pageview off: depth unchanged');
is($r->header('X-Depth'), $depth, '$trigger_depth unchanged');
is_deeply($v->cart, { Q1 => 1 }, 'pageview off: event stored');

# trigger off: event directives do nothing
$r = $v->get('/off?sku=OFF1');
is($r->status, 200, 'trigger off: served');
ok(!$r->header('X-Trigger-Status'), 'trigger off: no status');
unlike($v->hash->{v} // '', qr/OFF1/, 'trigger off: no event stored');

# internal redirects count once
$v = $t->visitor;
$r = $v->get('/redirect?sku=R1');
is($r->status, 200, 'try_files redirect served');
is($r->body, "<html>index</html>\n", 'redirected to index.html');
is($v->hash->{d}, 1, 'internal redirect: one page view');
is($v->hash->{v}, 'R1', 'internal redirect: the event of the first location');
is(scalar($r->headers('Set-Cookie')), 1, 'internal redirect: one Set-Cookie');
$r = $v->get('/missing?sku=M1');
is($r->status, 404, 'error_page keeps the 404 status');
ok(wait_until(sub { $v->hash->{d} == 1 }), 'a 404 is no page view');
is($v->hash->{v}, 'M1,R1', 'error_page redirect: one event');

# a subrequest (SSI include) is not tracked on its own
$r = $v->get('/ssi.html');
like($r->body, qr/included/, 'SSI include served');
is($v->hash->{d}, 2, 'SSI page: one page view');
is($v->hash->{v}, 'M1,R1', 'subrequest events are not stored');

# ----------------------------------------------------- config errors

my ($ok, $out) = $t->nginx_t(http => <<'EOF');
    %%TRIGGER_BASE%%
    server {
        listen 127.0.0.1:%%PORT%%;
        trigger on;
        location / {
            if ($arg_x) { trigger_view $arg_sku; }
        }
    }
EOF
ok(!$ok, 'trigger_view inside "if" refused');
like($out, qr/"trigger_view" directive is not allowed here/, 'message for "if"');

$t->done;
