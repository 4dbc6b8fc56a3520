# Nothing lost, nothing dropped: the provider down for a while (letters
# wait, then go), a provider too slow (the attempt times out and is made
# again), Redis restarted mid-chain (with its data kept, the chain goes
# on); quiet hours and the cap delay a letter, never drop it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::SHA qw(sha1_hex);
use POSIX qw(strftime);

my $t = TriggerTest->new->require_module;
# an append-only file: Redis restarted keeps the queue
$t->start_redis(args => ['--appendonly', 'yes', '--appendfsync', 'always']);
$t->start_esp;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

sub chains {
    my ($extra) = @_;
    return <<"EOF";
{
  "defaults": { "from_email": "shop\@example.com", "shop_name": "Shop",
                "shop_url": "http://127.0.0.1:8080" },
  $extra
  "letters": { "one": { "subject": "one", "text": "x" },
               "two": { "subject": "two", "text": "x" } },
  "chains": [ { "name": "offer", "trigger": "code_issued",
                "steps": [ { "send": "one" }, { "wait": "3s" },
                           { "send": "two" } ] } ]
}
EOF
}

sub start {
    my ($extra) = @_;
    $t->write_file('chains.json', chains($extra // ''));
    $t->stop_nginx if $t->nginx_pid;
    $t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_chains %%TMP%%/chains.json;
    trigger_esp sendgrid key=test-key url=http://127.0.0.1:%%ESP_PORT%%;
    trigger_sender_backoff 1s;
    trigger_sender_timeout 2s;
    trigger_sender_lease 10s;
    trigger_subscribe_limit_ip 1000 1h;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;
        location /_trigger/ {
            trigger_api;
        }
    }
EOF
}

sub subscribe {
    my ($email, %o) = @_;
    my $v = $t->visitor;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s;
    return $v->post('/_trigger/subscribe',
                    json_encode({ token => json_decode($json)->{token},
                                  email => $email, %o }))->json;
}

sub subjects {
    my ($email) = @_;
    return [map { $_->{subject} }
            grep { $_->{to}[0] eq $email } @{ $t->esp_messages || [] }];
}

sub job {
    my ($email) = @_;
    my $id = sha1_hex($email) . ':offer';
    return ($t->redis->zscore($t->key_prefix . 'queue', $id),
            { @{ $t->redis->hgetall($t->key_prefix . "job:$id") } });
}

start();

# the provider down for a while: the letter waits, then goes
$t->stop_esp;
ok(subscribe('down@example.com')->{code},
   'subscribed while the provider is down');
ok(wait_until(sub { (job('down@example.com'))[1]{attempts} }, timeout => 10),
   'the attempt failed and is to be made again');
$t->start_esp;
ok(wait_until(sub { @{ subjects('down@example.com') } }, timeout => 15),
   'the provider back: the letter goes');

# a provider slower than trigger_sender_timeout: made again
http_post($t->port('ESP_PORT'), '/_control/fail',
          json_encode({ provider => 'sendgrid', mode => 'slow', delay => 4,
                        count => 1 }));
subscribe('slow@example.com');
ok(wait_until(sub { $t->grep_log(qr/slow\@|timed out|Timeout/i) },
              timeout => 15), 'the attempt timed out');
ok(wait_until(sub { (job('slow@example.com'))[1]{pc} }, timeout => 15),
   'and the letter went on the next attempt');

# Redis restarted between two letters of a chain
subscribe('restart@example.com');
ok(wait_until(sub { @{ subjects('restart@example.com') } }, timeout => 10),
   'the first letter');
$t->restart_redis;
ok(wait_until(sub { @{ subjects('restart@example.com') } >= 2 },
              timeout => 20), 'Redis restarted: the second letter still comes');

# quiet hours around the clock in the contact's zone: the letter waits
my $now = time;
my $from = strftime('%H:%M', gmtime($now - 3600));
my $to = strftime('%H:%M', gmtime($now + 3600));
start(qq{"quiet_hours": { "from": "$from", "to": "$to" },});
subscribe('quiet@example.com', tz => 'UTC');
my ($due, $job);
ok(wait_until(sub {
       ($due, $job) = job('quiet@example.com');
       $due && $due > $now + 600;
   }, timeout => 10), 'quiet hours: the letter is put off');
ok($due <= $now + 3600 + 60, 'until they end');
is(scalar @{ subjects('quiet@example.com') }, 0, 'nothing sent meanwhile');

# a cap of one letter a day: the second letter of the chain waits
start(q{"cap": { "letters": 1, "per": "1d" },});
subscribe('capped@example.com');
ok(wait_until(sub { @{ subjects('capped@example.com') } }, timeout => 10),
   'the first letter');
ok(wait_until(sub {
       ($due) = job('capped@example.com');
       $due && $due > time + 3600;
   }, timeout => 15), 'the cap puts the second off to the next day');
is(scalar @{ subjects('capped@example.com') }, 1, 'not dropped: waiting');

$t->allow_log(qr/try \d+ again|timed out|Couldn't connect/i);
$t->done;
