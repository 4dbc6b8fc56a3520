#!/usr/bin/perl
# The widget's bootstrap goes into HTML pages before </body>: the tag an
# HTML parser would see (not one in a comment, a script or a textarea),
# across buffer boundaries, in any case, never into HEAD, ranges,
# compressed or non-HTML responses; gzip after the module still works,
# nothing of a page is lost, and only pages that got it are counted.

use strict;
use warnings;
use lib 't/lib';
use TriggerTest;
use Test::More;
use IO::Socket::INET;
use IO::Uncompress::Gunzip qw(gunzip);
use POSIX qw(_exit);

my $t = TriggerTest->new;
$t->start_redis;

my $page = "<html><head><title>t</title></head><body><p>shop</p>\n"
         . "</BODY></html>\n";
$t->write_file('html/index.html', $page);
$t->write_file('html/plain.txt', $page);
$t->write_file('html/nobody.html', "<html><p>no closing tag</p></html>\n");
$t->write_file('html/huge.html',
    "<html><body>" . ("<p>" . ("x" x 1000) . "</p>\n") x 2000
    . "</body></html>\n");

# the closing tag a parser sees, after ones it does not: [before, from]
my %where = (
    'comment.html' => ["<html><body><!-- old footer </body> -->\n<p>x</p>",
                       "</body></html>\n"],
    'script.html'  => ["<html><body><script>document.write(\"</body>\");"
                       . "</script>\n<p>x</p>", "</body></html>\n"],
    'textarea.html' => ["<html><body><textarea name=t></body></textarea>",
                        "</body></html>\n"],
    'space.html'   => ["<html><body><p>x</p>", "</body >\n</html>\n"],
    'attr.html'    => ["<html><body><a title=\"a > </body>\">x</a>",
                       "</BODY></html>"],
);
$t->write_file("html/$_", join '', @{$where{$_}}) for keys %where;

# pages that end in the middle of what could be the tag
$t->write_file('html/up/tail-b.html', "<html><body><p>x</p></b");
$t->write_file('html/up/tail-lt.html', "<html><body><p>x</p><");

# a long page without the tag, where every buffer ends on a tag's start
my $long = ("x" x 63 . "<") x (16 * 16384);
$t->write_file('html/long.html', $long);

$t->write_file('products.json', <<'EOF2');
[{"sku":"A1","name":"Shirt </script><!-- \u2028","price":"59.90",
  "currency":"EUR","url":"/p/A1"}]
EOF2

# an upstream that sends a chunked page with the tag split across chunks
my $up_port = $t->port('PORT3');
my $up = fork // die;
if ($up == 0) {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $up_port, Listen => 10, ReuseAddr => 1) or _exit(1);
    local $SIG{ALRM} = sub { _exit(0) };
    alarm 120;
    while (my $c = $l->accept) {
        my $req = '';
        while (<$c>) { $req .= $_; last if /^\r?\n$/ }
        print $c "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
               . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
        for my $part ("<html><body>chunked</b", "o", "dy", "></html>") {
            printf $c "%x\r\n%s\r\n", length $part, $part;
            $c->flush;
            select undef, undef, undef, 0.05;
        }
        print $c "0\r\n\r\n";
        close $c;
    }
    _exit(0);
}

my $buffers = join "\n", map { <<"EOF2" } 1 .. 8;
        location /b$_/ {
            alias %%HTML%%/;
            sendfile off;
            output_buffers 1 $_;
        }
EOF2

$t->start_nginx(http => <<"EOF2");
    %%TRIGGER_BASE%%
    trigger_products %%TMP%%/products.json;
    trigger_offer_cap 1000 1d;

    types {
        text/html  html;
        text/plain txt;
    }

    server {
        listen 127.0.0.1:%%PORT%%;
        root %%HTML%%;

        trigger on;
        trigger_offer on;
        trigger_offer_min_depth 1;
        trigger_offer_min_duration 0;
        trigger_offer_require_items off;
        trigger_widget_nonce \$arg_nonce;

        location / { }
$buffers
        location /sf/ {
            alias %%HTML%%/;
            sendfile on;
        }

        location /sf3/ {
            alias %%HTML%%/;
            sendfile on;
            output_buffers 1 3;
        }

        location = /p/A1 {
            trigger_view A1;
            try_files /index.html =404;
        }

        location /gzip/ {
            alias %%HTML%%/;
            gzip on;
            gzip_min_length 0;
            gzip_types text/plain;
        }

        location /compressed/ {
            proxy_pass http://127.0.0.1:%%PORT2%%/;
        }

        location /chunked/ {
            proxy_pass http://127.0.0.1:%%PORT3%%/;
            proxy_buffering off;
        }

        location /up/ {
            proxy_pass http://unix:%%TMP%%/up.sock:/;
        }

        location /holdout/ {
            alias %%HTML%%/;
            trigger_offer_holdout 100%;
        }

        location /thanks/ {
            proxy_pass http://unix:%%TMP%%/up.sock;
        }

        location /_trigger/ { trigger_api; }
    }

    server {
        listen unix:%%TMP%%/up.sock;
        root %%HTML%%/up;

        location /thanks/ {
            alias %%HTML%%/;
            add_header X-Trigger-Purchase "O-1 59.90";
        }
    }

    server {
        listen 127.0.0.1:%%PORT2%%;
        root %%HTML%%;
        add_header Content-Encoding gzip;
    }
EOF2

sub bootstrap_in {
    my ($body) = @_;
    return $body =~ m{<script type="application/json" id="trg-offer"[^>]*>}
}

sub injected_before_body_end {
    my ($body, $orig) = @_;
    my ($pre, $boot, $post) = $body =~
        m{^(.*?)(<script type="application/json" id="trg-offer".*?</script><script src="[^"]+" async[^>]*></script>)(.*)$}s
        or return 0;
    return $pre . $post eq $orig && $post =~ m{^</body>}i;
}

sub injected_at {
    my ($body, $orig, $at) = @_;
    my ($pre, $post) = $body =~
        m{^(.*?)<script type="application/json" id="trg-offer".*?</script><script src="[^"]+" async[^>]*></script>(.*)$}s
        or return 0;
    return $pre eq substr($orig, 0, $at) && $post eq substr($orig, $at);
}

sub stats {
    return { @{ $t->redis->hgetall($t->key_prefix . 'stats:' . utc_day()) } };
}

my $v = $t->visitor;

# only pages that really got the widget, or would have, are counted
$v->get('/nobody.html');
$v->get('/holdout/nobody.html');
$v->get('/holdout/index.html');
ok bootstrap_in($v->get('/index.html')->body), 'a page to count';
ok wait_until(sub {
    my $s = stats();
    ($s->{offer_injected} // 0) >= 1 && ($s->{offer_holdout} // 0) >= 1;
}), 'counters sent';
is stats()->{offer_injected}, 1, 'a page without </body> is not counted';
is stats()->{offer_holdout}, 1, 'nor is a held-out one';

my $r = $v->get('/index.html');
is $r->status, 200, 'page served';
ok injected_before_body_end($r->body, $page),
    'bootstrap inserted right before </BODY>';
ok !defined $r->header('Content-Length'), 'Content-Length cleared';
ok !defined $r->header('ETag') && !defined $r->header('Last-Modified'),
    'no validators';
ok !defined $r->header('Accept-Ranges'), 'Accept-Ranges cleared';
like $r->body, qr{<script src="/_trigger/widget\.js\?v=[0-9a-f]{10}" async>},
    'widget script is versioned';

my ($json) = $r->body =~ m{id="trg-offer">(.*?)</script>}s;
my $offer = json_decode($json);
ok $offer && $offer->{token} =~ /^\d+\.[\w-]{22}$/, 'offer data is JSON with a token';
is $offer->{api}, '/_trigger/', 'api prefix from the trigger_api location';

for my $n (1 .. 8) {
    $r = $v->get("/b$n/index.html");
    ok injected_before_body_end($r->body, $page),
        "found across $n-byte buffers";
}

for my $page (sort keys %where) {
    my $orig = join '', @{$where{$page}};
    ok injected_at($v->get("/$page")->body, $orig, length $where{$page}[0]),
        "$page: before the closing tag a parser sees";
    for my $in ('/b3/', '/sf/', '/sf3/') {
        ok injected_at($v->get("$in$page")->body, $orig,
                       length $where{$page}[0]), "$page: $in";
    }
}

for my $page ('tail-b.html', 'tail-lt.html') {
    is $v->get("/up/$page")->body, $t->read_file("html/up/$page"),
        "proxied $page: the last bytes are not lost";
    is $v->get("/sf3/up/$page")->body, $t->read_file("html/up/$page"),
        "$page in 3-byte buffers with sendfile";
}

# bytes kept back are not a copy of the buffer they came in
my ($worker) = $t->worker_pids;
my $hwm = sub {
    $t->read_file("/proc/$worker/status") =~ /^VmHWM:\s*(\d+) kB/m; $1
};
my $before = $hwm->();
$r = $v->get('/long.html', timeout => 60);
is length $r->body, 16 * 1024 * 1024, 'a long page without the tag';
ok !bootstrap_in($r->body), 'and nothing in it';
cmp_ok $hwm->() - $before, '<', 8 * 1024,
    'its buffers are not copied (worker memory, kB)';

$r = $v->get('/nobody.html');
is $r->body, "<html><p>no closing tag</p></html>\n",
    'a page without </body> is left as it is';

$r = $v->get('/plain.txt');
is $r->body, $page, 'text/plain is not touched';

$r = $v->get('/index.html', method => 'HEAD');
is $r->header('Content-Length'), length $page, 'HEAD: untouched';

$r = $v->get('/index.html', headers => [['Range', 'bytes=0-9']]);
is $r->status, 206, 'range request answered';
is $r->body, substr($page, 0, 10), 'range: untouched';

$r = $v->get('/compressed/index.html');
is $r->body, $page, 'upstream Content-Encoding: untouched';

$r = $v->get('/missing.html');
is $r->status, 404, 'error page';
ok !bootstrap_in($r->body), 'nothing in error pages';

$r = $v->get('/gzip/index.html', headers => [['Accept-Encoding', 'gzip']]);
is $r->header('Content-Encoding'), 'gzip', 'gzip after the module';
my $plain;
gunzip(\$r->body => \$plain);
ok injected_before_body_end($plain, $page), 'gzipped page has the bootstrap';

$r = $v->get('/chunked/');
my $chunked = "<html><body>chunked</body></html>";
ok injected_before_body_end($r->body, $chunked),
    'proxied chunked page, tag split over chunks';

$r = $v->get('/huge.html');
my $huge = $t->read_file('html/huge.html');
ok injected_before_body_end($r->body, $huge), 'a 2 MB page';

$r = $v->get('/index.html?nonce=r4nd0m+/=');
like $r->body, qr{id="trg-offer" nonce="r4nd0m\+/="}, 'nonce on the data';
like $r->body, qr{async nonce="r4nd0m\+/="></script>}, 'nonce on the script';

$r = $v->get('/index.html?nonce=%22onload=alert(1)');
unlike $r->body, qr/nonce=/, 'a nonce that is not base64 is dropped';

$r = $v->get('/p/A1');
($json) = $r->body =~ m{id="trg-offer">(.*?)</script>}s;
unlike $json, qr{</script|<!--|\x{2028}|\xe2\x80\xa8}, 'no breaking out of the script';
$offer = json_decode($json);
is $offer->{items}[0]{name}, "Shirt </script><!-- \x{2028}",
    'product name intact after JSON decoding';

# the order confirmation reports the purchase after the decision: the
# page that reports it gets no offer, nor do the pages after it
my $buyer = $t->visitor;
ok bootstrap_in($buyer->get('/index.html')->body), 'eligible before buying';
$r = $buyer->get('/thanks/index.html');
is $r->body, $page, 'the confirmation page is left as it is';
unlike $r->header('Cache-Control') // '', qr/private/,
    'and is not made private for an offer';
ok wait_until(sub { ($buyer->hash->{p} // 0) == 1 }), 'the purchase counted';
ok !bootstrap_in($buyer->get('/index.html')->body), 'no offer after it';

# a worker sends its counters once a second
ok wait_until(sub { (stats()->{offer_injected} // 0) >= 15 }),
    'injections counted';

kill 'TERM', $up;
waitpid $up, 0;
$t->done;

sub utc_day {
    my @t = gmtime;
    return sprintf '%04d%02d%02d', $t[5] + 1900, $t[4] + 1, $t[3];
}
