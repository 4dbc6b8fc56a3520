// The offer in a real browser, through the demo shop: Debian's Chromium
// driven by playwright-core, checked with axe-core.  t/81-browser.t starts
// Redis, the local ESP (esp/fake-esp) and nginx with examples/nginx.conf
// and gives the shop's address in BASE_URL, the ESP's in ESP_URL.
//
// Scenarios that only look (sizes, formats, languages, accessibility)
// answer the widget's API in the page (mockApi): the visitor stays
// eligible, and nothing is counted.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const base = process.env.BASE_URL;
const esp = process.env.ESP_URL;
const shots = process.env.SHOTS_DIR;
const docs = process.env.DOCS_IMG_DIR;
const codeRe = /^[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$/;
const axeSource = readFileSync(new URL('node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

// "HeadlessChrome" is on the module's bot list: browse as a browser
const desktopUA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
    + '(KHTML, like Gecko) Chrome/124.0 Safari/537.36';
const mobileUA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 '
    + '(KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36';

let browser;

before(async () => {
    mkdirSync(shots, { recursive: true });
    if (docs) mkdirSync(docs, { recursive: true });
    browser = await chromium.launch({
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-networking', '--disable-component-update',
               '--disable-sync', '--no-first-run', '--disable-quic'],
    });
});

after(async () => { await browser?.close(); });

// a failure says so in 10 s, not 30
async function visitor(options) {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(10000);
    return context;
}

const desktop = (viewport = { width: 1280, height: 800 }) =>
    visitor({ userAgent: desktopUA, viewport });

const phone = (viewport = { width: 390, height: 844 }) =>
    visitor({ userAgent: mobileUA, viewport, deviceScaleFactor: 2, isMobile: true, hasTouch: true });

// the page, or only the element, in CSS pixels (small pictures for the
// docs); for the docs too unless only for the test's own record
async function shot(target, name, record) {
    const page = target.page?.() ?? target;
    if (await page.locator('#trg-widget-host').count()) await settled(page);
    await target.screenshot({ path: `${shots}/${name}.png`, scale: 'css' });
    if (docs && !record) await target.screenshot({ path: `${docs}/${name}.png`, scale: 'css' });
}

// the bootstrap the module put into the page, if any
const offerOf = (page) => page.evaluate(() => {
    const boot = document.getElementById('trg-offer');
    return boot && JSON.parse(boot.textContent);
});

// an offer, not only a reminder of a code
const offered = async (page) => !!(await offerOf(page))?.token;

// the widget lives in its shadow root
const dialog = (page) => page.locator('#trg-widget-host [role=dialog]');
const reminder = (page) => page.locator('#trg-widget-host .trg-reminder');

// fn(host) in the page, host.shadowRoot being the widget's
const inWidget = (page, fn) => page.locator('#trg-widget-host').evaluate(fn);

// three pages, a cart line and two products viewed, past the demo's
// minimum duration (2 s in the test's copy of the configuration)
async function becomeEligible(page) {
    await page.goto(base + '/');
    await page.goto(base + '/product/KETTLE-GOOSE');
    await page.click('form.buy button[type=submit]');
    await page.waitForURL(/\/cart$/);
    await page.goto(base + '/product/DRIP-V60');
    await page.goto(base + '/product/MUG-STONE');
    await page.waitForTimeout(2200);
    await page.goto(base + '/');
    const offer = await offerOf(page);
    assert.ok(offer?.token, 'the page carries the offer');
    return offer;
}

// the widget arms exit intent after its delay
const armed = (page, offer) => page.waitForTimeout(offer.delay * 1000 + 300);

// the page at path with the module's offer changed by edit(offer)
async function withOffer(page, path, edit) {
    const url = base + path;
    await page.route(url, async (route) => {
        const res = await route.fetch();
        const html = (await res.text()).replace(
            /(id="trg-offer"[^>]*>)(.*?)(<\/script>)/s,
            (m, open, json, close) => open + JSON.stringify(edit(JSON.parse(json)))
                .replace(/</g, '\\u003c') + close);
        await route.fulfill({ response: res, body: html });
    });
    await page.goto(url);
    await page.unroute(url);
    await page.waitForFunction(() => window.TriggerWidget && document.readyState !== 'loading');
}

// the widget's API answered in the browser; what was sent
async function mockApi(context) {
    const sent = [];
    await context.route(/\/_trigger\/(events|subscribe|close|decline)$/, (route) => {
        const url = route.request().url();
        sent.push(url.replace(/.*\//, ''));
        return route.fulfill(url.endsWith('/subscribe') ? {
            contentType: 'application/json',
            body: JSON.stringify({ ok: true, code: 'K7Q9-XJ2P-MMC4',
                                   expires_at: Math.floor(Date.now() / 1000) + 7 * 86400 }),
        } : { status: 204 });
    });
    return sent;
}

// once in place: measured and checked after its animations (not a spinner's)
const settled = (page) => inWidget(page, ({ shadowRoot: root }) => Promise.all(root.getAnimations()
    .filter((a) => a.effect.getTiming().iterations !== Infinity).map((a) => a.finished)));

async function openNow(page) {
    assert.equal(await page.evaluate(() => TriggerWidget.open()), true, 'the offer opens');
    await dialog(page).waitFor({ state: 'visible', timeout: 10000 });
    await settled(page);
}

async function subscribe(page, email) {
    const d = dialog(page);
    await d.locator('input[type=email]').fill(email);
    const consent = d.locator('input[type=checkbox]');
    if (await consent.count()) await consent.check();
    await d.locator('button[type=submit]').click();
    const code = d.locator('.trg-code');
    await code.waitFor({ state: 'visible', timeout: 10000 });
    return (await code.textContent()).trim();
}

// zero axe-core violations: the whole page under a modal (the page behind
// is inert), the widget alone beside the shop's own page otherwise
async function accessible(page, state, whole) {
    await settled(page);
    if (!await page.evaluate(() => !!window.axe)) await page.evaluate(axeSource);
    const { violations } = await page.evaluate((include) => axe.run(
        include ? { include: [[include]] } : document, { resultTypes: ['violations'] }),
    whole ? null : '#trg-widget-host');
    assert.deepEqual(violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
                     [], `no axe violations: ${state}`);
}

// the dialog in the viewport, its form and button in view with nothing
// to scroll, the items (scrolling inside if need be) above them
async function fits(page, label, items = 3) {
    const m = await inWidget(page, ({ shadowRoot: root }) => {
        const rect = (sel) => root.querySelector(sel).getBoundingClientRect().toJSON();
        const d = root.querySelector('[role=dialog]');
        return { vw: innerWidth, vh: innerHeight, d: rect('[role=dialog]'),
                 email: rect('input[type=email]'), submit: rect('button[type=submit]'),
                 overflow: d.scrollHeight - d.clientHeight,
                 items: root.querySelectorAll('.trg-item').length };
    });
    const all = JSON.stringify(m);
    assert.ok(m.d.top >= 0 && m.d.left >= 0 && m.d.bottom <= m.vh + 0.5 && m.d.right <= m.vw + 0.5,
              `${label}: the dialog is in the viewport ${all}`);
    assert.ok(m.email.top >= m.d.top && m.submit.bottom <= m.d.bottom,
              `${label}: the field and the button are in view ${all}`);
    assert.ok(m.overflow <= 1, `${label}: nothing to scroll ${all}`);
    assert.equal(m.items, items, `${label}: the items are there ${all}`);
}

// WCAG contrast of two CSS colours, the first composited on the second
function contrast(fg, bg) {
    const parse = (c) => {
        const n = c.match(/[\d.]+/g).map(Number);
        return c.startsWith('color(') ? [n[0] * 255, n[1] * 255, n[2] * 255, n[3] ?? 1]
                                      : [n[0], n[1], n[2], n[3] ?? 1];
    };
    const [b, f] = [parse(bg), parse(fg)];
    const mix = f.slice(0, 3).map((v, i) => v * f[3] + b[i] * (1 - f[3]));
    const lum = (rgb) => rgb.map((v) => {
        const c = v / 255;
        return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }).reduce((s, c, i) => s + c * [0.2126, 0.7152, 0.0722][i], 0);
    const [l1, l2] = [lum(mix), lum(b.slice(0, 3))].sort((x, y) => y - x);
    return (l1 + 0.05) / (l2 + 0.05);
}

// today's counters, from the admin location (the shop's own machine);
// each worker sends its counts to Redis every second
async function counters() {
    const res = await fetch(`${base}/_trigger_admin/stats`);
    assert.equal(res.status, 200, 'the admin location answers');
    return (await res.json()).counters;
}

const flushed = () => new Promise((resolve) => setTimeout(resolve, 1500));

// fn() true, soon
async function eventually(fn, what) {
    for (let i = 0; i < 100; i++) {
        if (await fn()) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.fail(what);
}

// the letters the ESP took for this address, once there are some
async function lettersTo(email) {
    for (let i = 0; i < 100; i++) {
        const res = await fetch(`${esp}/messages?to=${encodeURIComponent(email)}`);
        const letters = await res.json();
        if (letters.length) return letters;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return [];
}

async function leaveThroughTheTop(page) {
    await page.mouse.move(640, 300);
    await page.mouse.move(640, 20, { steps: 4 });
    await page.mouse.move(640, -20, { steps: 2 });
}

// the codes the page was told about, as a shop would listen
const listenForCodes = (page) => page.evaluate(() => {
    window.dataLayer = window.dataLayer || [];
    window.codes = [];
    document.addEventListener('trigger:code', (e) => window.codes.push(e.detail));
});

// first: no other visitor's counters are on their way
test('a staff preview: at once, on any page, a variant asked for, nothing counted', async () => {
    const context = await desktop({ width: 1024, height: 640 });
    const page = await context.newPage();
    const posted = [];
    page.on('request', (r) => r.method() === 'POST' && r.url().includes('/_trigger/')
                              && posted.push(r.url()));
    const before = await counters();

    // a signed cookie from the admin location, for the A/B variant "bar"
    await page.goto(`${base}/_trigger_admin/preview?to=/product/TEA-SENCHA&variant=bar`);
    await page.waitForURL(/\/product\/TEA-SENCHA$/);
    const offer = await offerOf(page);
    assert.equal(offer.preview, true, 'a preview');
    assert.equal(offer.variant, 'bar');
    const d = dialog(page);
    await d.waitFor({ state: 'visible' });
    assert.equal(await d.getAttribute('data-format'), 'bar-bottom', 'the variant\'s format');
    assert.equal(await d.locator('h2').textContent(), 'Take 15% off', 'and its texts');
    await accessible(page, 'the preview of a variant');
    await shot(page, 'widget-variant-preview', true);
    assert.equal(await subscribe(page, 'staff@example.com'), 'PREVIEW');

    // every page, at once
    await page.goto(base + '/cart');
    await d.waitFor({ state: 'visible' });

    assert.deepEqual(posted, [], 'nothing sent');
    await flushed();
    const after = await counters();
    for (const name of ['offer_injected', 'offer_shown', 'visitors_offered', 'offer_subscribed']) {
        assert.equal(after[name], before[name], `${name} not counted`);
    }
    assert.equal(after.variants?.bar, undefined, 'nothing for the variant');

    // until it ends (the browser is then a visitor like any other)
    await page.goto(`${base}/_trigger_admin/preview?off&to=/cart`);
    await page.waitForURL(/\/cart$/);
    assert.notEqual((await offerOf(page))?.preview, true, 'no preview once it ends');
    await context.close();
});

test('desktop: exit intent, the cart item, an email, a code that stays until used, counted for its variant', async () => {
    const context = await desktop();
    const page = await context.newPage();
    const counted = (await counters()).variants?.control ?? {};
    const more = (name) => eventually(async () => ((await counters()).variants?.control?.[name] ?? 0)
                                      === (counted[name] ?? 0) + 1, `${name} counted for the variant`);

    const offer = await becomeEligible(page);
    assert.equal(offer.items[0].sku, 'KETTLE-GOOSE', 'the cart item first');
    assert.equal(offer.variant, 'control', 'the visitor\'s variant');
    await armed(page, offer);

    // a click pushes no history entry on a desktop
    const entries = await page.evaluate(() => history.length);
    await page.click('h1');
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => history.length), entries, 'no history entry');

    await listenForCodes(page);
    const shownEvent = page.waitForResponse((r) => r.url().endsWith('/_trigger/events'));
    await leaveThroughTheTop(page);
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.getAttribute('#trg-widget-host', 'data-variant'), 'control');
    assert.ok((await shownEvent).ok(), 'the show is taken');
    await more('offer_shown');

    const first = d.locator('.trg-item').first();
    await assert.doesNotReject(first.waitFor());
    assert.match(await first.textContent(), /Gooseneck kettle/);
    await shot(page, 'widget-desktop');
    await accessible(page, 'the offer', true);

    const shown = await subscribe(page, 'ann@example.com');
    assert.match(shown, codeRe);
    await shot(page, 'widget-success');
    await accessible(page, 'success', true);

    // the shop is told, to apply the code itself
    const told = await page.evaluate(() => ({
        codes: window.codes,
        pushed: dataLayer.filter((e) => e.event === 'trigger_code'),
    }));
    assert.equal(told.codes.length, 1, 'one trigger:code event');
    assert.equal(told.codes[0].code, shown);
    assert.ok(told.codes[0].expires * 1000 > Date.now(), 'with its expiry');
    assert.equal(told.codes[0].variant, 'control', 'and the variant');
    assert.equal(told.pushed[0]?.trigger_code, shown, 'and in the dataLayer');
    await more('offer_subscribed');

    // closed: the code stays in view, with its countdown
    await page.keyboard.press('Escape');
    await d.waitFor({ state: 'hidden' });
    const r = reminder(page);
    await r.waitFor({ state: 'visible' });
    assert.equal((await r.locator('.trg-reminder-code').textContent()).trim(), shown);
    assert.match(await r.locator('.trg-countdown').textContent(),
                 /^Expires in \d+ days? \d\d:\d\d:\d\d$/);
    await accessible(page, 'the reminder');

    // and on the next pages, until the code is used
    await page.goto(base + '/product/TEA-SENCHA');
    assert.equal(await offered(page), false, 'no offer while a code is active');
    await r.waitFor({ state: 'visible' });
    assert.equal((await r.locator('.trg-reminder-code').textContent()).trim(), shown,
                 'the reminder keeps the code across pages');
    await shot(r, 'widget-reminder');

    // the chain's first letter, at once, with the code the widget showed
    const [letter] = await lettersTo('ann@example.com');
    assert.ok(letter, 'the offer letter reached the ESP');
    assert.match(letter.subject, new RegExp(`: ${shown}$`));
    assert.ok(letter.html.includes(`>${shown}</div>`), 'the code in the HTML part');
    assert.ok(letter.text.includes(`Your code: ${shown}\n`), 'and in the text part');
    assert.ok(letter.html.includes(`href="${base}/product/KETTLE-GOOSE"`),
              'the cart item, linked to the shop');

    // the code used at checkout: the reminder goes
    await page.goto(base + '/checkout');
    await page.fill('input[name=promo]', shown);
    await page.click('form.checkout button[type=submit]');
    await page.waitForURL(/\/order\/confirm/);
    assert.equal(await page.locator('#trg-offer, #trg-widget-host').count(), 0,
                 'the order confirmation gets neither the offer nor the reminder');
    await page.goto(base + '/');
    assert.equal(await reminder(page).count(), 0, 'no reminder once the code is used');
    await more('code_used');

    // as the mailbox page shows it: the letter's HTML in a frame, tall
    // enough for the first item
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${esp}/?id=${encodeURIComponent(letter.id)}`);
    const html = page.frameLocator('iframe[title="HTML part"]');
    await html.getByText(shown, { exact: true }).waitFor();
    assert.ok(await html.locator('img[alt="Gooseneck kettle"]').first().evaluate(
        (img) => img.decode().then(() => true, () => false)),
              "the item's picture, from the shop");
    await shot(page, 'mailbox');

    await context.close();
});

test('a visitor who says no thanks is not asked again', async () => {
    const context = await desktop();
    const page = await context.newPage();

    await armed(page, await becomeEligible(page));
    await leaveThroughTheTop(page);
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });

    const declined = page.waitForResponse((r) => r.url().endsWith('/_trigger/decline'));
    await d.locator('.trg-decline').click();
    assert.equal((await declined).status(), 200);
    await d.waitFor({ state: 'hidden', timeout: 10000 });

    for (const path of ['/', '/product/TEA-SENCHA', '/cart']) {
        await page.goto(base + path);
        assert.equal(await offered(page), false, `no offer on ${path}`);
    }

    await context.close();
});

test('closing the offer pauses it: not on the next pages', async () => {
    const context = await desktop();
    const page = await context.newPage();

    await armed(page, await becomeEligible(page));
    await leaveThroughTheTop(page);
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });

    const closed = page.waitForRequest((r) => r.url().endsWith('/_trigger/close'));
    await d.locator('.trg-close').click();
    const req = await closed;
    assert.deepEqual(req.postDataJSON(), { token: (await offerOf(page)).token },
                     'the close, with the offer\'s token');
    assert.equal((await req.response()).status(), 204);
    await d.waitFor({ state: 'hidden' });

    for (const path of ['/', '/product/TEA-SENCHA', '/cart']) {
        await page.goto(base + path);
        assert.equal(await offered(page), false, `no offer on ${path}`);
    }

    await context.close();
});

test('phone: the back button opens the offer once, one press leaves, a code, its reminder', async () => {
    const context = await phone();
    // the codes the pages tell the shop about, from the start of each page
    await context.addInitScript(() => {
        window.codes = [];
        document.addEventListener('trigger:code', (e) => window.codes.push(e.detail.code));
    });
    const page = await context.newPage();

    await armed(page, await becomeEligible(page));

    // one history entry, after the first tap (on the heading: no link)
    const entries = await page.evaluate(() => history.length);
    await page.tap('h1');
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => history.length), entries + 1, 'one entry pushed');
    await page.tap('h1');
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => history.length), entries + 1, 'only one');

    await page.goBack({ waitUntil: 'commit' }).catch(() => {});
    const d = dialog(page);
    await d.waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(page.url(), base + '/', 'still on the page');
    assert.match(await d.locator('.trg-item').first().textContent(), /Gooseneck kettle/);
    await shot(page, 'widget-mobile');

    assert.match(await subscribe(page, 'bob@example.com'), codeRe);
    await d.locator('.trg-close').tap();
    await reminder(page).waitFor({ state: 'visible' });
    await accessible(page, 'the reminder on a phone');

    // the entry is used: one press leaves
    await page.goBack();
    await page.waitForURL(/MUG-STONE$/);

    // a page with only the reminder: no entry either
    await page.goto(base + '/cart');
    await reminder(page).waitFor({ state: 'visible' });
    const now = await page.evaluate(() => history.length);
    await page.tap('h1');
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => history.length), now, 'no entry without an offer');

    // the shop is told on every page
    const code = (await reminder(page).locator('.trg-reminder-code').textContent()).trim();
    assert.deepEqual(await page.evaluate(() => window.codes), [code], 'trigger:code on a reminder page');

    // at its expiry the reminder goes
    await withOffer(page, '/product/TEA-SENCHA', (o) => ({
        ...o, reminder: { ...o.reminder, expires: Math.floor(Date.now() / 1000) + 2 } }));
    await reminder(page).waitFor({ state: 'visible' });
    await reminder(page).waitFor({ state: 'detached' });

    // dismissed, it stays away for that code
    await page.goto(base + '/');
    await reminder(page).locator('.trg-reminder-close').tap();
    await reminder(page).waitFor({ state: 'detached' });
    await page.goto(base + '/cart');
    assert.equal((await offerOf(page)).reminder?.code, code, 'the module still reminds');
    await page.waitForFunction(() => window.TriggerWidget);
    assert.equal(await reminder(page).count(), 0, 'the widget does not show it again');

    await context.close();
});

test('phone: fits every screen, Russian, never a second press back', async () => {
    const context = await phone({ width: 320, height: 568 });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    const page = await context.newPage();
    await becomeEligible(page);
    const sent = await mockApi(context);

    for (const [width, height] of [[320, 568], [360, 640], [390, 844]]) {
        await page.setViewportSize({ width, height });
        await page.goto(base + '/');
        await openNow(page);
        await fits(page, `${width}x${height}`);
    }
    await accessible(page, 'the bottom sheet', true);

    // Russian at 360 px: the copy button beside or below the code, never on it
    await page.setViewportSize({ width: 360, height: 640 });
    await withOffer(page, '/', (o) => ({ ...o, lang: 'ru', consent: true }));
    await openNow(page);
    await fits(page, 'ru 360x640');
    const d = dialog(page);
    assert.equal(await d.locator('button[type=submit]').textContent(), 'Получить скидку');
    await subscribe(page, 'ivan@example.com');
    const copy = d.locator('.codebox .btn');
    await copy.click();
    await page.waitForFunction(() => document.getElementById('trg-widget-host').shadowRoot
        .querySelector('.codebox .btn').textContent === 'Скопировано!');
    const m = await inWidget(page, ({ shadowRoot: root }) => {
        const range = document.createRange();
        range.selectNodeContents(root.querySelector('.trg-code'));
        const a = range.getBoundingClientRect(), b = root.querySelector('.codebox .btn').getBoundingClientRect();
        const box = root.querySelector('.codebox').getBoundingClientRect();
        return { apart: a.right <= b.left || a.bottom <= b.top, inside: a.right <= box.right,
                 said: root.querySelector('.codebox [role=status]').textContent };
    });
    assert.ok(m.apart, 'the copy button does not cover the code');
    assert.ok(m.inside, 'the code fits its box');
    assert.equal(m.said, 'Скопировано!', 'the copy is announced');
    await shot(d, 'widget-ru');
    await accessible(page, 'success in Russian', true);

    // opened by the back button and closed: the visitor leaves, one press
    await page.goto(base + '/cart');
    await withOffer(page, '/', (o) => ({ ...o, delay: 0 }));
    await page.tap('h1');
    await page.waitForTimeout(300);
    await page.goBack({ waitUntil: 'commit' }).catch(() => {});
    await dialog(page).waitFor({ state: 'visible' });
    await dialog(page).locator('.trg-close').tap();
    await page.waitForURL(/\/cart$/);

    // opened otherwise: the entry goes at once, one press leaves
    await withOffer(page, '/', (o) => ({ ...o, delay: 0 }));
    await page.tap('h1');
    await page.waitForTimeout(300);
    await openNow(page);
    await dialog(page).locator('.trg-close').tap();
    await page.waitForTimeout(300);
    assert.equal(page.url(), base + '/', 'closing keeps the page');
    await page.goBack();
    await page.waitForURL(/\/cart$/);

    assert.ok(sent.includes('close'), 'the closes were sent');
    await context.close();
});

test('desktop: fits a laptop, formats, languages, contrast, forced colours, preview', async () => {
    const context = await desktop({ width: 1366, height: 657 });
    const page = await context.newPage();
    await becomeEligible(page);
    const sent = await mockApi(context);

    await page.goto(base + '/');
    await openNow(page);
    await fits(page, '1366x657');

    // the email field's border against the dialog: 3:1 at least
    const field = await inWidget(page, ({ shadowRoot: root }) => [
        getComputedStyle(root.querySelector('input[type=email]')).borderTopColor,
        getComputedStyle(root.querySelector('[role=dialog]')).backgroundColor]);
    assert.ok(contrast(...field) >= 3, `the field's border reads: ${field}`);

    // the page behind the modal is inert, and only while it is open
    assert.equal(await page.evaluate(() => document.querySelector('main').inert), true, 'inert');
    assert.equal(await page.evaluate(() => document.getElementById('trg-widget-host').lang), 'en');
    const d = dialog(page);
    await d.locator('button[type=submit]').click();
    assert.match(await d.locator('.trg-error').textContent(), /valid email/);
    await accessible(page, 'an error', true);
    await page.keyboard.press('Escape');
    assert.equal(await page.evaluate(() => document.querySelector('main').inert), false, 'not inert');

    // the formats, in the shop's own green (the pictures a little smaller)
    await page.setViewportSize({ width: 1024, height: 640 });
    for (const format of ['slidein', 'bar-top', 'bar-bottom']) {
        await withOffer(page, '/', (o) => ({ ...o, format, accent: '#2f7d5b' }));
        await openNow(page);
        assert.equal(await d.getAttribute('data-format'), format);
        assert.equal(await d.getAttribute('aria-modal'), null, 'not modal');
        assert.equal(await page.evaluate(() => document.querySelector('main').inert), false);
        const b = await d.locator('button[type=submit]').boundingBox();
        assert.ok(b.y >= 0 && b.y + b.height <= 640, `${format}: the button in view`);
        await accessible(page, format);
        await shot(page, `widget-${format}`);
    }

    await page.setViewportSize({ width: 1366, height: 657 });

    // a light accent gets dark text
    for (const accent of ['#2f7d5b', '#f5b83d', '#ffffff', '#000000', '#7f7f7f']) {
        await withOffer(page, '/', (o) => ({ ...o, accent }));
        await openNow(page);
        const c = await inWidget(page, ({ shadowRoot: root }) => {
            const s = getComputedStyle(root.querySelector('button[type=submit]'));
            return [s.color, s.backgroundColor];
        });
        assert.ok(contrast(...c) >= 4.5, `text on ${accent}: ${c}`);
    }

    // the languages, with the built-in consent label and placeholder
    const consent = { de: 'Ich möchte E-Mails', fr: 'J’accepte', es: 'Acepto' };
    for (const lang of ['de', 'fr', 'es']) {
        await withOffer(page, '/', (o) => ({ ...o, lang, consent: true }));
        await openNow(page);
        assert.equal(await page.evaluate(() => document.getElementById('trg-widget-host').lang), lang);
        assert.ok((await d.locator('.consent').textContent()).startsWith(consent[lang]),
                  `${lang}: the consent label`);
        assert.doesNotMatch(await d.locator('input[type=email]').getAttribute('placeholder'),
                            /you@example/, `${lang}: the placeholder`);
        await fits(page, `${lang} 1366x657`);
        await accessible(page, lang, true);
        await shot(d, `widget-${lang}`);
    }

    // any text still the shop's own
    await withOffer(page, '/', (o) => ({ ...o, lang: 'de', texts: { submit: 'Jetzt sparen' } }));
    await openNow(page);
    assert.equal(await d.locator('button[type=submit]').textContent(), 'Jetzt sparen');

    // forced colours: the button keeps its border
    await page.emulateMedia({ forcedColors: 'active' });
    await page.goto(base + '/');
    await openNow(page);
    const border = await inWidget(page, ({ shadowRoot: root }) => {
        const s = getComputedStyle(root.querySelector('button[type=submit]'));
        return [s.borderTopStyle, parseFloat(s.borderTopWidth), s.borderTopColor];
    });
    assert.equal(border[0], 'solid', 'a border in forced colours');
    assert.ok(border[1] >= 1, 'a visible one');
    assert.doesNotMatch(border[2], /^rgba\(.*, 0\)$|transparent/, 'not transparent');
    await shot(page, 'forced-colors', true);
    await page.emulateMedia({ forcedColors: 'none' });

    // a preview opens at once and sends nothing
    sent.length = 0;
    await withOffer(page, '/', (o) => ({ ...o, preview: true }));
    await d.waitFor({ state: 'visible' });
    assert.equal(await subscribe(page, 'staff@example.com'), 'PREVIEW');
    await page.keyboard.press('Escape');
    await reminder(page).waitFor({ state: 'visible' });
    assert.deepEqual(sent, [], 'nothing sent in a preview');

    await context.close();
});

// A shop page may show its visitors' content, and with it elements with
// the widget's id: the widget reads only the offer the module put right
// before its own tag, and sends nothing to another origin.
test('the offer and the API are only the module\'s own', async () => {
    const context = await desktop();
    const foreign = [];
    await context.route(/evil\.example/, (route) => {
        foreign.push(route.request().url());
        return route.abort();
    });
    const page = await context.newPage();

    await becomeEligible(page);

    // the shop's front page, its HTML changed on the way by edit(html, offer)
    async function served(edit) {
        await page.route(base + '/', async (route) => {
            const res = await route.fetch();
            const html = await res.text();
            const offer = JSON.parse(html.match(/id="trg-offer">(.*?)<\/script>/s)[1]);
            await route.fulfill({ response: res, body: edit(html, offer) });
        });
        await page.goto(base + '/');
        await page.unroute(base + '/');
        await page.waitForFunction(() => window.TriggerWidget
                                         && document.readyState !== 'loading');
    }

    // the module's own offer names an API elsewhere: the widget does nothing
    await served((html) => html.replace('"api":"/_trigger/"',
                                        '"api":"//evil.example/_trigger/"'));
    assert.equal(await page.evaluate(() => TriggerWidget.open()), false,
                 'no offer with an API on another origin');

    // content with the widget's id before the module's offer, as a review
    // or a comment could carry it
    const fake = (offer) => JSON.stringify({ ...offer, api: 'https://evil.example/' });
    const hostile = [
        (offer) => `<div id="trg-offer" hidden>${
            fake(offer).replace(/&/g, '&amp;').replace(/</g, '&lt;')}</div>`,
        (offer) => `<script type="application/json" id="trg-offer">${
            fake(offer).replace(/</g, '\\u003c')}</script>`,
    ];
    const d = dialog(page);
    for (const content of hostile) {
        await served((html, offer) =>
            html.replace(/<body[^>]*>/, (tag) => tag + content(offer)));
        const shown = page.waitForRequest((r) => r.url().endsWith('/_trigger/events'));
        assert.equal(await page.evaluate(() => TriggerWidget.open()), true);
        assert.equal((await shown).url(), base + '/_trigger/events',
                     'the offer_shown event goes to the shop');
        await d.waitFor({ state: 'visible', timeout: 10000 });
    }

    // the form, too, goes to the shop's own API
    const subscribed = page.waitForResponse((r) => r.url().endsWith('/subscribe'));
    await d.locator('input[type=email]').fill('cat@example.com');
    await d.locator('input[type=checkbox]').check();
    await d.locator('button[type=submit]').click();
    const res = await subscribed;
    assert.equal(res.url(), base + '/_trigger/subscribe');
    assert.equal(res.status(), 200);
    await d.locator('.trg-code').waitFor({ state: 'visible', timeout: 10000 });

    assert.deepEqual(foreign, [], 'nothing sent to another origin');
    await context.close();
});
