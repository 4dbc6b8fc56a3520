# The chains file and the sender's directives at nginx -t: clear errors
# that name the file and the place; a reload takes a changed file, and a
# bad one leaves the running configuration alone.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->start_esp;
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");

sub chains {
    my ($subject, %o) = @_;
    my $trigger = $o{trigger} // '"code_issued"';
    my $wait = $o{wait} // '"1h"';
    my $html = $o{html} // '"<p>{{code}}</p>"';
    return <<"EOF";
{
  "defaults": { "from_email": "shop\@example.com", "shop_name": "Shop",
                "shop_url": "http://127.0.0.1:8080" },
  "letters": { "offer": { "subject": "$subject", "html": $html },
               "later": { "subject": "later", "text": "x" } },
  "chains": [ { "name": "offer", "trigger": $trigger,
                "steps": [ { "send": "offer" }, { "wait": $wait },
                           { "send": "later" } ] } ]
}
EOF
}

my $base = <<'EOF';
    %%TRIGGER_BASE%%
    %%EXTRA%%
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

sub conf {
    my ($extra) = @_;
    return $base =~ s/%%EXTRA%%/$extra/r;
}

my $esp = 'trigger_esp sendgrid key=test-key url=http://127.0.0.1:%%ESP_PORT%%;';
my $both = "trigger_chains %%TMP%%/chains.json;\n    $esp";

for my $case (
    [ 'an unknown trigger', chains('x', trigger => '"sneeze"'),
      $both, qr/chains\.json: chains\[0\]\.trigger: .*sneeze/ ],
    [ 'a bad duration', chains('x', wait => '"soon"'),
      $both, qr/chains\.json: chains\[0\]\.steps\[1\]\.wait: not a duration/ ],
    [ 'a missing template file', chains('x', html => '{"file": "nope.html"}'),
      $both, qr/chains\.json: letters\.offer\.html: .*nope\.html/ ],
    [ 'a broken template', chains('{{#code}} open'),
      $both, qr/chains\.json: letters\.offer\.subject: .*not closed/ ],
    [ 'chains without a provider', chains('x'),
      'trigger_chains %%TMP%%/chains.json;',
      qr/"trigger_chains" needs "trigger_esp"/ ],
    [ 'a provider without chains', chains('x'), $esp,
      qr/"trigger_esp" needs "trigger_chains"/ ],
    [ 'an unknown provider', chains('x'),
      "trigger_chains %%TMP%%/chains.json;\n    trigger_esp pigeon key=x;",
      qr/unknown provider "pigeon"/ ],
    [ 'double opt-in without chains', chains('x'),
      'trigger_double_opt_in on;', qr/"trigger_double_opt_in" needs "trigger_chains"/ ],
    [ 'double opt-in without a confirm letter', chains('x'),
      "$both\n    trigger_double_opt_in on;",
      qr/needs a letter called "confirm"/ ],
    [ 'a lease shorter than an attempt', chains('x'),
      "$both\n    trigger_sender_timeout 20s;\n    trigger_sender_lease 10s;",
      qr/"trigger_sender_lease" must be at least 5s longer/ ],
) {
    my ($name, $file, $extra, $re) = @$case;
    $t->write_file('chains.json', $file);
    my ($ok, $out) = $t->nginx_t(http => conf($extra));
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "$name: says where and why") or diag($out);
}

sub subject_for {
    my ($email) = @_;
    my $v = $t->visitor;
    my ($json) = $v->get('/index.html')->body
        =~ m{id="trg-offer">(.*?)</script>}s;
    $v->post('/_trigger/subscribe',
             json_encode({ token => json_decode($json)->{token},
                           email => $email }));
    my $letter;
    wait_until(sub {
        ($letter) = grep { $_->{to}[0] eq $email } @{ $t->esp_messages || [] };
        $letter;
    }, timeout => 10);
    return $letter && $letter->{subject};
}

$t->write_file('chains.json', chains('first'));
$t->start_nginx(http => conf($both));
is(subject_for('a@example.com'), 'first', 'the letter of the file');

$t->write_file('chains.json', chains('second'));
ok($t->reload, 'reload');
is(subject_for('b@example.com'), 'second', 'a reload takes the changed file');

$t->write_file('chains.json', chains('third', wait => '"soon"'));
kill 'HUP', $t->nginx_pid;
ok(wait_until(sub { $t->grep_log(qr/steps\[1\]\.wait: not a duration/) }),
   'a bad file at a reload is refused');
$t->allow_log(qr/not a duration/);
is(subject_for('c@example.com'), 'second', 'the running one goes on');

$t->done;
