#!/usr/bin/perl
# A page with one visitor's offer in it, or with a new visitor's cookie,
# is that visitor's alone: no validators on an injected page, so no
# conditional request gets a stale copy, and Cache-Control says private
# (what the upstream allowed shared caches goes, what it forbade stays).

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;

my $t = TriggerTest->new;
$t->start_redis;

my $page = "<html><body><p>shop</p></body></html>\n";
$t->write_file('html/index.html', $page);

$t->start_nginx(http => <<'EOF2');
    %%TRIGGER_BASE%%
    trigger_offer_cap 1000 1d;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;

        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;

        location / { }

        location /up/ {
            proxy_pass http://unix:%%TMP%%/up.sock:/;
        }

        location /expires/ {
            alias %%HTML%%/;
            expires 1h;
        }

        # the same pages without the offer
        location /plain/ {
            alias %%HTML%%/;
            trigger_offer off;
        }

        location /plain-up/ {
            proxy_pass http://unix:%%TMP%%/up.sock:/;
            trigger_offer off;
        }

        location /_trigger/ { trigger_api; }
    }

    server {
        listen unix:%%TMP%%/up.sock;
        root %%HTML%%;

        location /public/ {
            alias %%HTML%%/;
            add_header Cache-Control "public, max-age=600";
        }

        location /shared/ {
            alias %%HTML%%/;
            add_header Cache-Control "public, s-maxage=3600, max-age=60";
        }

        location /no-store/ {
            alias %%HTML%%/;
            add_header Cache-Control "no-store, no-cache";
        }

        location /two/ {
            alias %%HTML%%/;
            add_header Cache-Control public;
            add_header Cache-Control 'no-cache="Set-Cookie, X-A", max-age=5';
        }
    }
EOF2

sub injected { $_[0]->body =~ /id="trg-offer"/ }

sub cache_control { join ' | ', $_[0]->headers('Cache-Control') }

# --- an injected page ---------------------------------------------------

my $v = $t->visitor;
my $r = $v->get('/index.html');
ok injected($r), 'a new visitor gets the offer';
ok $r->set_cookie('trg_vid'), 'and the cookie';
is cache_control($r), 'private', 'Cache-Control: private';
ok !defined $r->header('Last-Modified'), 'no Last-Modified';
ok !defined $r->header('ETag'), 'no ETag';

# what a browser kept from the page before it carried an offer
my $plain = $v->get('/plain/index.html');
ok !injected($plain), 'the same page without the offer';
my $lm = $plain->header('Last-Modified');
my $etag = $plain->header('ETag');
ok $lm && $etag, 'has validators';
is cache_control($plain), '', 'and no Cache-Control: nothing personal';

$r = $v->get('/index.html', headers => [['If-Modified-Since', $lm]]);
is $r->status, 200, 'If-Modified-Since: 200';
ok injected($r), 'with the offer';
ok !defined $r->header('Last-Modified'), 'and no Last-Modified';

$r = $v->get('/index.html', headers => [['If-None-Match', $etag]]);
is $r->status, 200, 'If-None-Match: 200';
ok injected($r), 'with the offer';
ok !defined $r->header('ETag'), 'and no ETag';

is $v->get('/plain/index.html', headers => [['If-None-Match', $etag]])
    ->status, 304, 'a page without the offer still answers 304';

# --- the upstream's Cache-Control ---------------------------------------

$r = $v->get('/up/public/index.html');
ok injected($r), 'proxied page with the offer';
is cache_control($r), 'private, max-age=600', 'public becomes private';
ok !defined $r->header('Last-Modified') && !defined $r->header('ETag'),
    'no validators';

$r = $v->get('/up/shared/index.html');
is cache_control($r), 'private, max-age=60', 's-maxage goes too';

$r = $v->get('/up/no-store/index.html');
is cache_control($r), 'private, no-store, no-cache',
    'no-store and no-cache stay';

$r = $v->get('/up/two/index.html');
is cache_control($r), 'private, no-cache="Set-Cookie, X-A", max-age=5',
    'two headers become one, a quoted list kept whole';

$r = $v->get('/expires/index.html');
ok injected($r), 'a page with expires';
is cache_control($r), 'private | max-age=3600',
    'expires, which comes after the module, does not drop private';

$r = $v->get('/plain-up/public/index.html');
ok !injected($r) && !$r->set_cookie('trg_vid'), 'neither offer nor cookie';
is cache_control($r), 'public, max-age=600', 'the upstream\'s, untouched';
ok defined $r->header('Last-Modified'), 'validators kept';

# --- a new visitor's cookie ---------------------------------------------

my $new = $t->visitor;
$r = $new->get('/plain-up/public/index.html');
ok $r->set_cookie('trg_vid') && !injected($r), 'a cookie, no offer';
is cache_control($r), 'private, max-age=600', 'private for the cookie';

$r = $t->visitor->get('/plain/index.html');
ok $r->set_cookie('trg_vid'), 'a cookie on a static page';
is cache_control($r), 'private', 'private';

$r = $t->get('/plain-up/public/index.html', ua => 'Googlebot/2.1');
ok !$r->set_cookie('trg_vid'), 'a bot gets no cookie';
is cache_control($r), 'public, max-age=600', 'and the page as it is';

$t->done;
