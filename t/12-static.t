#!/usr/bin/perl
# The module compiled into nginx from nginx's own source tree
# (./configure --add-module), as `make static` builds it: it tracks as
# the dynamic module does.

use strict;
use warnings;

BEGIN {
    $ENV{TEST_NGINX_BINARY} = 'build/nginx-static';
}

use lib 't/lib';
use TriggerTest;
use Test::More;

unless (-x 'build/nginx-static') {
    plan skip_all => 'build/nginx-static is missing: run "make static"'
        unless $ENV{CI};
    fail('build/nginx-static is missing: make test builds it');
    done_testing;
    exit;
}

my $t = TriggerTest->new;
$t->start_redis;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

$t->start_nginx(load_module => 0, http => <<'EOF2');
    %%TRIGGER_BASE%%

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-Depth $trigger_depth always;
    }
EOF2

my $v = $t->visitor;
is $v->get('/index.html')->header('X-Depth'), 1, 'first page tracked';
is $v->get('/index.html')->header('X-Depth'), 2, 'second page tracked';
is $v->hash->{d}, 2, 'depth in Redis';

$t->done;
