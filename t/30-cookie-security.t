# The visitor cookie is never trusted unless its HMAC is right: forged,
# malformed, oversized cookies and floods of cookies get a new id.  Bots
# and empty User-Agents are not tracked and get no cookie.  Consent mode:
# nothing set or stored without the consent cookie.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use TriggerTest;

my $t = TriggerTest->new->require_module;
$t->start_redis;
$t->write_file('html/index.html', "<html>index</html>\n");

$t->start_nginx(http => <<'EOF');
    %%TRIGGER_BASE%%
    large_client_header_buffers 4 32k;

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;
        trigger on;
        add_header X-TS $trigger_status always;
        add_header X-Visitor $trigger_visitor always;
        add_header X-Depth $trigger_depth always;
    }

    # a custom bot list
    server {
        listen 127.0.0.1:%%PORT2%%;
        root %%HTML%%;
        trigger on;
        trigger_bot_agents "^MyMonitor/" "internal-probe";
        add_header X-TS $trigger_status always;
    }

    # consent required
    server {
        listen 127.0.0.1:%%PORT3%%;
        root %%HTML%%;
        trigger on;
        trigger_consent_cookie consent yes;
        add_header X-TS $trigger_status always;
        add_header X-Depth $trigger_depth always;
        location /trigger/ { trigger_api; }
    }
EOF

my $VID_RE = qr/^[A-Za-z0-9_-]{22}$/;

# what the module computes: vid . '.' . b64url(HMAC-SHA256(secret, vid)[0..7])
sub mint {
    my ($vid, $secret) = @_;
    return $vid . '.' . encode_base64url(substr(hmac_sha256($vid, $secret), 0, 8));
}

sub n_keys { scalar(() = $t->visitor_keys) }

# a known visitor
my $v = $t->visitor;
my $r = $v->get('/index.html');
my $good = $v->cookie;
my $vid = $v->vid;
like($vid, $VID_RE, 'a visitor id');
is($good, mint($vid, $t->secret), 'cookie = vid.mac as the contract says');
$v->get('/index.html');
is($v->hash->{d}, 2, 'the genuine cookie is recognised');

# ids are random
my %seen;
for (1 .. 20) {
    my $c = http_request(port => $t->port, path => '/index.html')->set_cookie('trg_vid');
    $seen{ (split /\./, $c->{value})[0] }++ if $c;
}
is(scalar keys %seen, 20, '20 new visitors, 20 different ids');

# a cookie minted with the right secret for an id of our choosing is valid
# (proves the test's understanding of the format); any other mac is not
my $chosen = 'ChosenVisitorId0123456';
$r = http_request(port => $t->port, path => '/index.html',
                  cookies => { trg_vid => mint($chosen, $t->secret) });
is($r->header('X-Visitor'), $chosen, 'a correctly signed cookie is accepted');
ok(!$r->headers('Set-Cookie'), 'accepted: no Set-Cookie');

my ($mac) = $good =~ /\.(.*)$/;
my $flip = sub { my $s = shift; my $c = substr($s, 0, 1); substr($s, 0, 1, $c eq 'A' ? 'B' : 'A'); $s };

my @forged = (
    [ 'mac of another id',        "$chosen.$mac" ],
    [ 'mac altered',              "$vid." . $flip->($mac) ],
    [ 'id altered, mac kept',     $flip->($vid) . ".$mac" ],
    [ 'wrong secret',             mint($vid, 'another-secret-0123456789abcdef') ],
    [ 'mac truncated',            "$vid." . substr($mac, 0, 10) ],
    [ 'mac too long',             "$vid.${mac}A" ],
    [ 'no mac',                   "$vid." ],
    [ 'no dot',                   "$vid$mac" ],
    [ 'id only',                  $vid ],
    [ 'empty',                    '' ],
    [ 'dot only',                 '.' ],
    [ 'short id',                 substr($vid, 1) . '.' . $mac ],
    [ 'bad characters',           '!' . substr($vid, 1) . ".$mac" ],
    [ 'base64 padding',           substr($vid, 0, 20) . '==.' . $mac ],
    [ 'quoted',                   "\"$good\"" ],
    [ 'trailing junk',            "$good;x" =~ s/;x$/x/r ],
    [ 'two dots',                 "$vid..$mac" ],
    [ 'oversized (8 KB)',         'A' x 8192 ],
    [ 'oversized with a valid prefix', $good . ('A' x 8192) ],
);

for my $f (@forged) {
    my ($name, $value) = @$f;
    my $before = $v->hash->{d};
    my $keys = n_keys();
    $r = http_request(port => $t->port, path => '/index.html',
                      cookies => "trg_vid=$value");
    is($r->status, 200, "$name: page served");
    my $c = $r->set_cookie('trg_vid');
    ok($c, "$name: a new cookie is issued") or next;
    my ($new) = split /\./, $c->{value};
    like($new, $VID_RE, "$name: new id well formed");
    isnt($new, $vid, "$name: not the genuine visitor");
    isnt($new, $chosen, "$name: not the chosen id");
    like($c->{value}, qr/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{11}$/,
         "$name: the client's value is never echoed");
    is($r->header('X-Visitor'), $new, "$name: tracked under the new id");
    is($v->hash->{d}, $before, "$name: the genuine visitor is untouched");
    is(n_keys(), $keys + 1, "$name: one new key, nothing else");
}

# many cookies around the visitor cookie
my $many = join '; ', (map { "c$_=v$_" } 1 .. 300), "trg_vid=$good",
                      map { "d$_=w$_" } 1 .. 50;
my $before = $v->hash->{d};
$r = http_request(port => $t->port, path => '/index.html', cookies => $many);
is($r->status, 200, '350 cookies: served');
ok(!$r->headers('Set-Cookie'), '350 cookies with a genuine one: recognised');
is($v->hash->{d}, $before + 1, '350 cookies: the genuine visitor counted');

$many = join '; ', map { "c$_=v$_" } 1 .. 300;
$r = http_request(port => $t->port, path => '/index.html', cookies => $many);
ok($r->set_cookie('trg_vid'), '300 other cookies and none of ours: new id');

# several Cookie headers, and several trg_vid values
$r = http_request(port => $t->port, path => '/index.html',
    headers => [['Cookie', 'a=1'], ['Cookie', "trg_vid=$good"], ['Cookie', 'b=2']]);
is($r->header('X-Visitor'), $vid, 'visitor cookie in the second Cookie header');

for my $pair (["trg_vid=$chosen.$mac; trg_vid=$good", 'forged first'],
              ["trg_vid=$good; trg_vid=$chosen.$mac", 'forged second']) {
    $r = http_request(port => $t->port, path => '/index.html', cookies => $pair->[0]);
    my $seen = $r->header('X-Visitor') // '';
    ok($seen eq $vid || ($r->set_cookie('trg_vid') && $seen ne $chosen),
       "two trg_vid cookies ($pair->[1]): the genuine id or a new one, never the forged");
}

# a valid value under another cookie name is not ours
$r = http_request(port => $t->port, path => '/index.html',
                  cookies => { other_vid => $good });
ok($r->set_cookie('trg_vid'), 'valid value under another name: new id');

# ------------------------------------------------------------------ bots

my @bots = (
    'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
    'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
    'Mozilla/5.0 (compatible; Baiduspider/2.0)',
    'Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp)',
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36',
    'Mozilla/5.0 (compatible; SomeCrawler/1.0)',
    'facebookexternalhit/1.1',
    'GOOGLEBOT/2.1',
    'curl/8.5.0',
    'Wget/1.21',
    'python-requests/2.31',
);
my $keys = n_keys();
for my $ua (@bots, '', 'NONE') {
    my $name = $ua eq '' ? 'empty User-Agent' : $ua eq 'NONE' ? 'no User-Agent' : $ua;
    $r = http_request(port => $t->port, path => '/index.html', ua => $ua);
    is($r->status, 200, "bot '$name': served");
    is($r->header('X-TS'), 'bot', "bot '$name': status bot");
    ok(!$r->headers('Set-Cookie'), "bot '$name': no cookie");
    ok(!$r->header('X-Visitor'), "bot '$name': no visitor");
}
# a genuine cookie was issued to a browser: the bot pattern is not run
# again for it (a browser extension changing the User-Agent keeps its id)
$before = $v->hash->{d};
$r = http_request(port => $t->port, path => '/index.html', ua => $bots[0],
                  cookies => { trg_vid => $good });
is(status_seen($r->header('X-TS')), 'tracked', 'genuine cookie: no bot check');
is($v->hash->{d}, $before + 1, 'genuine cookie: the page view counted');
is(n_keys(), $keys, 'bots stored nothing');

# ordinary browsers are tracked
for my $ua ('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
            'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
            'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0') {
    $r = http_request(port => $t->port, path => '/index.html', ua => $ua);
    is(status_seen($r->header('X-TS')), 'tracked', "browser tracked: " . substr($ua, 0, 40));
}

# custom list
$r = http_request(port => $t->port(2), path => '/index.html', ua => 'MyMonitor/1.0');
is($r->header('X-TS'), 'bot', 'custom trigger_bot_agents: match');
ok(!$r->headers('Set-Cookie'), 'custom list: no cookie');
$r = http_request(port => $t->port(2), path => '/index.html', ua => 'x INTERNAL-PROBE y');
is($r->header('X-TS'), 'bot', 'custom list: second pattern, case-insensitive');
$r = http_request(port => $t->port(2), path => '/index.html', ua => 'xMyMonitor/1.0');
is(status_seen($r->header('X-TS')), 'tracked', 'custom list: anchored pattern does not match');
$r = http_request(port => $t->port(2), path => '/index.html', ua => '');
is($r->header('X-TS'), 'bot', 'custom list: an empty UA is still not tracked');

# --------------------------------------------------------------- consent

$keys = n_keys();
my $cv = $t->visitor(port => $t->port(3));
$r = $cv->get('/index.html');
is($r->status, 200, 'no consent: served');
is($r->header('X-TS'), 'no_consent', 'no consent: status no_consent');
ok(!$r->headers('Set-Cookie'), 'no consent: no cookie');
for my $val ('no', 'YES', 'yes2', '') {
    $r = http_request(port => $t->port(3), path => '/index.html',
                      cookies => "consent=$val");
    is($r->header('X-TS'), 'no_consent', "consent=$val: not tracked");
    ok(!$r->headers('Set-Cookie'), "consent=$val: no cookie");
}
$r = http_request(port => $t->port(3), path => '/index.html',
                  cookies => "xconsent=yes");
is($r->header('X-TS'), 'no_consent', 'xconsent=yes is another cookie');
is(n_keys(), $keys, 'no consent: nothing stored');

$cv->set_cookie_value(consent => 'yes');
$r = $cv->get('/index.html');
is(status_seen($r->header('X-TS')), 'tracked', 'consent=yes: tracked');
ok($r->set_cookie('trg_vid'), 'consent=yes: cookie set');
is($cv->hash->{d}, 1, 'consent=yes: stored');
$r = $cv->get('/index.html');
is($r->header('X-Depth'), 2, 'consent=yes: counted');

# consent withdrawn: the visitor cookie is there, nothing is stored
$cv->set_cookie_value(consent => undef);
$r = $cv->get('/index.html');
is($r->header('X-TS'), 'no_consent', 'consent withdrawn: not tracked');
ok(!$r->headers('Set-Cookie'), 'consent withdrawn: no cookie');
is($cv->hash->{d}, 2, 'consent withdrawn: nothing stored');
$r = $cv->post('/trigger/events', '{"type":"view","sku":"A1"}');
is($r->status, 202, 'consent withdrawn: endpoint 202');
ok(!exists $cv->hash->{v}, 'consent withdrawn: endpoint stored nothing');

$t->done;
