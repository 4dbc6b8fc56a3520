# Known contacts get chains from what they do: once a visitor has
# subscribed, its page views (a visit of a given depth), a return after
# time away, a social action, an item added to the cart followed by time
# without activity (a lapse) each start the chain whose trigger they
# complete, once; an unknown visitor's behaviour starts nothing.
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
$t->write_file('html/index.html', "<html><body>shop</body></html>\n");
$t->write_file('products.json',
               '[{"sku": "TEA-1", "name": "Sencha", "price": "12.50"}]');
$t->write_file('chains.json', <<'EOF');
{
  "defaults": { "from_email": "shop@example.com", "shop_name": "Shop",
                "shop_url": "http://127.0.0.1:8080" },
  "letters": {
    "deep": { "subject": "deep visit", "text": "x" },
    "back": { "subject": "welcome back", "text": "x" },
    "shared": { "subject": "thanks for sharing", "text": "x" },
    "cart": { "subject": "your cart",
              "text": "{{#items}}{{{name}}}{{/items}}" }
  },
  "chains": [
    { "name": "deep", "trigger": { "visit": { "depth": 4 } },
      "steps": [ { "send": "deep" } ] },
    { "name": "back", "trigger": { "return": { "away": "1m" } },
      "steps": [ { "send": "back" } ] },
    { "name": "shared", "trigger": { "social": { "action": "share" } },
      "steps": [ { "send": "shared" } ] },
    { "name": "cart",
      "trigger": { "sequence": ["cart_add", { "lapse": { "after": "3s" } }],
                   "within": "1h" },
      "exit": ["purchased", "cart_empty"],
      "steps": [ { "send": "cart" } ] }
  ]
}
EOF

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    trigger_products %%TMP%%/products.json;
    trigger_chains %%TMP%%/chains.json;
    trigger_esp sendgrid key=test-key url=http://127.0.0.1:%%ESP_PORT%%;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;

        location = /add {
            trigger_cart_add $arg_sku;
            try_files /index.html =404;
        }
        location /_trigger/ {
            trigger_api;
        }
    }
EOF

sub subjects {
    my ($email) = @_;
    return [map { $_->{subject} }
            grep { grep { $_ eq $email } @{ $_->{to} || [] } }
            @{ $t->esp_messages || [] }];
}

sub has {
    my ($email, $subject) = @_;
    return grep { $_ eq $subject } @{ subjects($email) };
}

# a visitor who did all this before subscribing starts nothing
my $stranger = $t->visitor;
$stranger->get('/index.html') for 1 .. 5;
$stranger->post('/_trigger/events',
                json_encode({ type => 'social', action => 'share' }));

my $v = $t->visitor;
my ($json) = $v->get('/index.html')->body =~ m{id="trg-offer">(.*?)</script>}s;
my $r = $v->post('/_trigger/subscribe',
                 json_encode({ token => json_decode($json)->{token},
                               email => 'ann@example.com' }));
is($r->status, 200, 'subscribed');
ok(!json_decode($json)->{mail},
   'no chain starts on a subscription: the widget promises no letter');

# depth 4 in this visit: the first page and three more
$v->get('/index.html') for 1 .. 3;
ok(wait_until(sub { has('ann@example.com', 'deep visit') }, timeout => 15),
   'a visit of depth 4: its chain');

# a social action, through the events endpoint
$r = $v->post('/_trigger/events',
              json_encode({ type => 'social', action => 'share' }));
is($r->status, 200, 'a social event');
$r = $v->post('/_trigger/events',
              json_encode({ type => 'social', action => 'tweet' }));
is($r->status, 400, 'an unknown social action: 400');
ok(wait_until(sub { has('ann@example.com', 'thanks for sharing') },
              timeout => 15), 'a share: its chain');

# an item in the cart, then 3 s without activity
$v->get('/add?sku=TEA-1');
ok(wait_until(sub { has('ann@example.com', 'your cart') }, timeout => 20),
   'cart_add, then a lapse: the abandoned cart chain');
my ($cart) = grep { $_->{subject} eq 'your cart' } @{ $t->esp_messages };
is($cart->{text}, 'Sencha', 'with the cart');

# each once so far: a deeper visit fires once, more pages change nothing
$v->get('/index.html') for 1 .. 2;
sleep 6;
my %n;
$n{$_}++ for @{ subjects('ann@example.com') };
is_deeply(\%n, { 'deep visit' => 1, 'thanks for sharing' => 1,
                 'your cart' => 1 }, 'each once');

# back after an hour away: a new visit (its last activity is moved back)
$t->redis->hset($v->key, 'l', time - 3600);
$v->get('/index.html');
ok(wait_until(sub { has('ann@example.com', 'welcome back') }, timeout => 15),
   'a return after time away: its chain');
is(scalar(grep { !grep { $_ eq 'ann@example.com' } @{ $_->{to} } }
          @{ $t->esp_messages }), 0, 'the stranger got nothing');

$t->done;
