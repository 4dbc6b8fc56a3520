# Every letter exactly once, however the senders race or fail: two nginx
# instances (two workers each) on one Redis send 30 subscriptions' letters
# between them; a reload while letters are due; a worker killed (-9)
# with a letter in flight leaves its job to be taken again when the lease
# ends, and the provider's idempotency key (Brevo's) keeps the second
# attempt from making a second letter.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;
use Digest::SHA qw(sha1_hex);

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->start_esp;
my $t2 = TriggerTest->new;

my $chains = <<'EOF';
{
  "defaults": { "from_email": "shop@example.com", "shop_name": "Shop",
                "shop_url": "http://127.0.0.1:8080" },
  "letters": { "offer": { "subject": "Code {{{code}}}",
                          "text": "Code {{{code}}}" } },
  "chains": [ { "name": "offer", "trigger": "code_issued",
                "steps": [ { "send": "offer" } ] } ]
}
EOF

for my $i ($t, $t2) {
    $i->write_file('html/index.html', "<html><body>shop</body></html>\n");
    $i->write_file('chains.json', $chains);
}

my ($redis_port, $esp_port) = ($t->redis_port, $t->port('ESP_PORT'));

sub conf {
    my (%o) = @_;
    my $provider = $o{provider} // 'sendgrid';
    return <<"EOF";
    trigger_redis 127.0.0.1:$redis_port;
    trigger_secret %%SECRET%%;
    trigger_redis_timeout %%TIMEOUT%%;
    trigger_chains %%TMP%%/chains.json;
    trigger_esp $provider key=test-key url=http://127.0.0.1:$esp_port;
    trigger_sender_concurrency 4;
    trigger_sender_timeout 5s;
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
    my ($i, $email) = @_;
    my $v = $i->visitor;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s or return;
    return $v->post('/_trigger/subscribe',
                    json_encode({ token => json_decode($json)->{token},
                                  email => $email }))->json;
}

sub letters {
    my %n;
    $n{ $_->{to}[0] }++ for @{ $t->esp_messages || [] };
    return \%n;
}

sub queue_empty {
    my $p = $t->key_prefix;
    return !$t->redis->zcard("${p}queue") && !$t->redis->zcard("${p}leases");
}

# two instances race for the same queue
$t->start_nginx(workers => 2, http => conf());
$t2->start_nginx(workers => 2, http => conf());

my @emails = map { "race$_\@example.com" } 1 .. 30;
subscribe($_ % 2 ? $t : $t2, $emails[$_]) for 0 .. $#emails;
ok(wait_until(sub { keys %{ letters() } == 30 }, timeout => 20),
   '30 subscriptions on two instances: 30 addresses mailed');
ok(wait_until(\&queue_empty, timeout => 10), 'the queue is empty');
sleep 1;
my $n = letters();
is(scalar(grep { $n->{$_} != 1 } keys %$n), 0, 'each exactly once');

# a reload while letters are due
http_request(port => $esp_port, method => 'DELETE', path => '/messages');
@emails = map { "reload$_\@example.com" } 1 .. 20;
subscribe($t, $_) for @emails[0 .. 9];
ok($t->reload, 'reloaded');
subscribe($t, $_) for @emails[10 .. 19];
ok(wait_until(sub { keys %{ letters() } == 20 }, timeout => 20),
   'a reload while sending: every letter goes');
ok(wait_until(\&queue_empty, timeout => 10), 'the queue is empty');
$n = letters();
is(scalar(grep { $n->{$_} != 1 } keys %$n), 0, 'each exactly once');

$t2->stop_nginx;

# a worker killed with a letter in flight: Brevo, whose idempotency key
# turns the second attempt into "already sent"
$t->stop_nginx;
http_request(port => $esp_port, method => 'DELETE', path => '/messages');
$t->write_file('chains.json', $chains);
$t->start_nginx(workers => 1, http => conf(provider => 'brevo'));
http_post($esp_port, '/_control/fail',
          json_encode({ provider => 'brevo', mode => 'slow', delay => 3,
                        count => 1 }));
my ($worker) = $t->worker_pids;
subscribe($t, 'killed@example.com');
ok(wait_until(sub { letters()->{'killed@example.com'} }, timeout => 10),
   'the letter reached the provider');
kill 'KILL', $worker;
$t->allow_log(qr/exited on signal 9/);
my $id = sha1_hex('killed@example.com') . ':offer';
ok(wait_until(sub { !$t->redis->exists($t->key_prefix . "job:$id") },
              timeout => 60),
   'its lease ended, another worker took the job and finished it');
is(letters()->{'killed@example.com'}, 1,
   'one letter: the retry was known to the provider');
my ($record) = $t->redis->keys($t->key_prefix . "letter:$id:*");
ok($record, 'and it is recorded as sent');

$t2->teardown;
$t->done;
