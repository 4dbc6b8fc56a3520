#!/usr/bin/perl
# `make demo` from a folder nobody else may enter, as a clone in a home
# folder (mode 700) is: started by root, nginx's workers would run as
# "nobody" and answer every page 404.  util/demo runs here from a copy of
# the repository's demo in such a folder, on ports of its own
# (DEMO_PORT, DEMO_APP_PORT, DEMO_REDIS_PORT, DEMO_ESP_PORT,
# DEMO_ESP_SMTP_PORT), and must serve the shop, its application behind
# it, the API's rate limit as JSON, and the mailbox, where the offer
# letter arrives with links to this shop, as examples/nginx.conf and
# examples/chains-demo.json configure them.

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;
use POSIX qw(_exit setsid);

plan skip_all => 'as root only: root starts the workers as another user'
    if $>;

my $t = TriggerTest->new->require_module;
my $repo = $TriggerTest::REPO;
my $home = $t->dir . '/home';
mkdir $home or die "$home: $!";
chmod 0700, $home or die "$home: $!";

# what `git clone` and `make` leave there for util/demo
my $clone = "$home/shop";
mkdir $clone or die "$clone: $!";
mkdir "$clone/build" or die "$clone/build: $!";
system('cp', '-R', "$repo/util", "$repo/examples", "$repo/esp", "$clone/")
    == 0 or die 'cp failed';
system('cp', $t->module_path, "$clone/build/") == 0 or die 'cp failed';
# the test ages a visit in Redis: pages ask Redis every time
system('sed', '-i', 's/^\( *trigger_zone_valid\) .*;/\1 0;/',
       "$clone/examples/nginx.conf") == 0 or die 'sed failed';

my ($port, $port2, $redis) = ($t->port, $t->port(2), $t->redis_port);
my $esp = TriggerTest::free_port($port, $port2, $redis);
my $smtp = TriggerTest::free_port($port, $port2, $redis, $esp);

my $demo = fork // die "fork: $!";
if ($demo == 0) {
    setsid();
    @ENV{qw(DEMO_PORT DEMO_APP_PORT DEMO_REDIS_PORT DEMO_ESP_PORT
            DEMO_ESP_SMTP_PORT)} = ($port, $port2, $redis, $esp, $smtp);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $t->dir . '/demo.out';
    open STDERR, '>&', \*STDOUT;
    exec "$clone/util/demo" or _exit(127);
}

# util/demo stops its nginx and Redis on TERM, also if this test dies
sub stop_demo {
    return 0 unless $demo;
    kill 'TERM', $demo;
    my $stopped = TriggerTest::wait_pid($demo, 20);
    my $status = $?;
    $demo = 0;
    return $stopped && $status == 0;
}
END { my $rc = $?; stop_demo(); $? = $rc }

ok wait_until(sub { $t->get('/')->status == 200 }, timeout => 20),
    'the demo shop answers from a folder only its owner may enter'
    or diag($t->read_file('demo.out'), $t->read_file("$clone/run/error.log"));

my $v = $t->visitor;
for my $path ('/', '/product/KETTLE-GOOSE', '/cart', '/checkout',
              '/assets/shop.css')
{
    is $v->get($path)->status, 200, "$path: 200";
}
like $v->get('/')->body, qr{<strong>tracked</strong>},
    'the page includes its partials and the visit is tracked in Redis';
my $r = $v->get('/order/confirm?order=T-13&amount=9.90');
is $r->status, 200, 'the order confirmation comes from the application';
ok $v->orders->{'T-13'}, 'and its purchase is recorded'
    or diag(explain $v->orders);

# the mailbox, and the offer's letter in it
$r = http_get($esp, '/');
is $r->status, 200, 'the mailbox answers';
like $r->body, qr/fake-esp mailbox/, 'with its page';

# Visitors until one is not in the control group (a visitor's draw is
# fixed by its id), each with three pages, the cart, and a visit started
# a minute ago: past the demo's trigger_offer_min_duration
my ($ann, $offer);
for (1 .. 20) {
    my $w = $t->visitor;
    $w->get($_) for '/', '/product/KETTLE-GOOSE',
                    '/cart/add?sku=KETTLE-GOOSE&qty=1';
    $t->redis->hincrby($w->key, 's', -60);
    ($offer) = $w->get('/cart')->body =~ m{id="trg-offer">(.*?)</script>}s;
    $ann = $w, last if $offer;
}
ok $offer, 'the demo makes the offer';
my $sub = $ann && $ann->post('/_trigger/subscribe', json_encode({
        token => json_decode($offer)->{token}, email => 'ann@example.com',
        consent => JSON::PP::true }))->json || {};
my $code = $sub->{code};
ok $code, 'the visitor subscribes and gets a code' or diag(explain $sub);
$code //= 'no code';

my $letters;
ok wait_until(sub {
        $letters = http_get($esp, '/messages?to=ann@example.com')->json;
        return $letters && @$letters;
    }, timeout => 20), 'the offer letter is in the mailbox'
    or diag($t->read_file("$clone/run/error.log"));
my $letter = $letters->[0] || {};
like $letter->{subject} // '', qr/: \Q$code\E$/, 'with the code';
my $text = $letter->{text} // '';
like $text, qr{^  http://127\.0\.0\.1:$port/product/KETTLE-GOOSE$}m,
    "the cart's item, linked to this shop";
my ($unsubscribe) = $text =~ m{^Unsubscribe: http://127\.0\.0\.1:$port(/\S+)$}m;
ok $unsubscribe, 'the unsubscribe link leads to this shop';
is $unsubscribe && $ann->get($unsubscribe)->status, 200, 'and works';

my $queue = $t->get('/_trigger_admin/queue')->json || {};
ok defined $queue->{queued}, 'the admin location shows the queue';

# the API's limit_req: its 429 is JSON, like the module's own errors
my $limited;
for (1 .. 200) {
    $r = $t->get('/_trigger/widget.js');
    $limited = $r, last if $r->status != 200;
}
ok $limited, 'the API is rate limited';
if ($limited) {
    is $limited->status, 429, 'with 429';
    is $limited->header('Content-Type'), 'application/json', 'as JSON';
    is $limited->header('Cache-Control'), 'no-store', 'never cached';
    is_deeply $limited->json, { ok => JSON::PP::false,
                                error => 'too many requests' },
        'saying why, as the module does';
}

my $log = $t->read_file("$clone/run/error.log");
unlike $log, qr/Permission denied/, 'the workers can read every file';
unlike $log, qr/\[(?:crit|alert|emerg)\]/, 'no critical errors';

ok stop_demo(), 'util/demo stops on TERM and exits 0';
ok !$t->get('/')->status, 'nginx is gone';
ok !http_get($esp, '/')->status, 'the mailbox too';
like $t->read_file("$clone/run/esp/messages.jsonl"), qr/\Q$code\E/,
    'its letters kept in run/esp';

$t->done;
