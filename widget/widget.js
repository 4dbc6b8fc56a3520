/*
 * ngx_http_trigger_module: the exit-intent offer widget (see README.md).
 * Plain ES2017, no dependencies, never throws into the page.  Pure ASCII
 * (texts as \u escapes): a page in a legacy charset cannot garble it.
 */

(() => {
    'use strict';

    /*
     * The offer is the JSON the module puts right before its script tag,
     * never an element found by its id: a page that shows its visitors'
     * content may carry that id too.  Without currentScript there is no
     * telling which element is the module's: nothing is done.
     */
    const doc = document;
    const script = doc.currentScript;
    const boot = script && script.previousElementSibling;
    const ours = boot && boot.matches('script[type="application/json"]#trg-offer') ? boot : null;
    const prior = window.TriggerWidget && window.TriggerWidget.version;

    /* a second copy (the shop's own tag and the module's): only the
     * module's, for the offer */
    if (!script || (prior && !ours)) {
        return;
    }

    const TEXTS = {
        en: {
            title: 'Wait! Here is {discount} off',
            subtitle: 'Leave your email and get a personal code for your order.',
            email_label: 'Your email',
            email_placeholder: 'you@example.com',
            consent_required: '(required)',
            submit: 'Get my discount',
            decline: 'No thanks',
            close: 'Close',
            in_cart: 'In your cart',
            cart_title: 'Your cart',
            viewed_title: 'You looked at',
            success_title: 'Your discount is ready!',
            success_text: 'Use code {code} at checkout. We have also sent it to your email.',
            success_code: 'Use code {code} at checkout.',
            success_confirm: 'Check your inbox: confirm your address and we will send your code.',
            copy: 'Copy',
            copied: 'Copied!',
            error_email: 'Please enter a valid email address.',
            error_consent: 'Please tick the box to continue.',
            error_generic: 'Something went wrong. Please try again.',
            error_limit: 'Too many attempts. Please try again later.',
            error_token: 'This offer has expired. Please reload the page.',
            error_unavailable: 'This offer is no longer available.'
        },
        ru: {
            title: '\u041f\u043e\u0434\u043e\u0436\u0434\u0438\u0442\u0435! \u0414\u0430\u0440\u0438\u043c \u0441\u043a\u0438\u0434\u043a\u0443 {discount}',
            subtitle: '\u041e\u0441\u0442\u0430\u0432\u044c\u0442\u0435 email \u0438 \u043f\u043e\u043b\u0443\u0447\u0438\u0442\u0435 \u043f\u0435\u0440\u0441\u043e\u043d\u0430\u043b\u044c\u043d\u044b\u0439 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 \u043d\u0430 \u0437\u0430\u043a\u0430\u0437.',
            email_label: '\u0412\u0430\u0448 email',
            consent_required: '(\u043e\u0431\u044f\u0437\u0430\u0442\u0435\u043b\u044c\u043d\u043e)',
            submit: '\u041f\u043e\u043b\u0443\u0447\u0438\u0442\u044c \u0441\u043a\u0438\u0434\u043a\u0443',
            decline: '\u041d\u0435\u0442, \u0441\u043f\u0430\u0441\u0438\u0431\u043e',
            close: '\u0417\u0430\u043a\u0440\u044b\u0442\u044c',
            in_cart: '\u0412 \u043a\u043e\u0440\u0437\u0438\u043d\u0435',
            cart_title: '\u0412 \u0432\u0430\u0448\u0435\u0439 \u043a\u043e\u0440\u0437\u0438\u043d\u0435',
            viewed_title: '\u0412\u044b \u0441\u043c\u043e\u0442\u0440\u0435\u043b\u0438',
            success_title: '\u0421\u043a\u0438\u0434\u043a\u0430 \u0432\u0430\u0448\u0430!',
            success_text: '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 {code} \u043f\u0440\u0438 \u043e\u0444\u043e\u0440\u043c\u043b\u0435\u043d\u0438\u0438 \u0437\u0430\u043a\u0430\u0437\u0430. \u041c\u044b \u043e\u0442\u043f\u0440\u0430\u0432\u0438\u043b\u0438 \u0435\u0433\u043e \u0438 \u043d\u0430 \u043f\u043e\u0447\u0442\u0443.',
            success_code: '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 {code} \u043f\u0440\u0438 \u043e\u0444\u043e\u0440\u043c\u043b\u0435\u043d\u0438\u0438 \u0437\u0430\u043a\u0430\u0437\u0430.',
            success_confirm: '\u041f\u0440\u043e\u0432\u0435\u0440\u044c\u0442\u0435 \u043f\u043e\u0447\u0442\u0443: \u043f\u043e\u0434\u0442\u0432\u0435\u0440\u0434\u0438\u0442\u0435 \u0430\u0434\u0440\u0435\u0441, \u0438 \u043c\u044b \u043f\u0440\u0438\u0448\u043b\u0451\u043c \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434.',
            copy: '\u041a\u043e\u043f\u0438\u0440\u043e\u0432\u0430\u0442\u044c',
            copied: '\u0421\u043a\u043e\u043f\u0438\u0440\u043e\u0432\u0430\u043d\u043e!',
            error_email: '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043a\u043e\u0440\u0440\u0435\u043a\u0442\u043d\u044b\u0439 \u0430\u0434\u0440\u0435\u0441 \u043f\u043e\u0447\u0442\u044b.',
            error_consent: '\u041e\u0442\u043c\u0435\u0442\u044c\u0442\u0435 \u0441\u043e\u0433\u043b\u0430\u0441\u0438\u0435, \u0447\u0442\u043e\u0431\u044b \u043f\u0440\u043e\u0434\u043e\u043b\u0436\u0438\u0442\u044c.',
            error_generic: '\u0427\u0442\u043e-\u0442\u043e \u043f\u043e\u0448\u043b\u043e \u043d\u0435 \u0442\u0430\u043a. \u041f\u043e\u043f\u0440\u043e\u0431\u0443\u0439\u0442\u0435 \u0435\u0449\u0451 \u0440\u0430\u0437.',
            error_limit: '\u0421\u043b\u0438\u0448\u043a\u043e\u043c \u043c\u043d\u043e\u0433\u043e \u043f\u043e\u043f\u044b\u0442\u043e\u043a. \u041f\u043e\u043f\u0440\u043e\u0431\u0443\u0439\u0442\u0435 \u043f\u043e\u0437\u0436\u0435.',
            error_token: '\u041f\u0440\u0435\u0434\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u0443\u0441\u0442\u0430\u0440\u0435\u043b\u043e. \u041e\u0431\u043d\u043e\u0432\u0438\u0442\u0435 \u0441\u0442\u0440\u0430\u043d\u0438\u0446\u0443.',
            error_unavailable: '\u042d\u0442\u043e \u043f\u0440\u0435\u0434\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u0431\u043e\u043b\u044c\u0448\u0435 \u043d\u0435\u0434\u043e\u0441\u0442\u0443\u043f\u043d\u043e.'
        }
    };

    /* what the module accepts (src/ngx_http_trigger_event.c) */
    const EMAIL_RE = /^[\w.+!#$%&'*\/=?^`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z0-9-]{2,}$/;
    const ID_RE = /^[\w.:\/@+#-]{1,64}$/;
    const PROMO_RE = /^[\w-]{1,32}$/;
    const AMOUNT_RE = /^\d{1,10}(\.\d{1,2})?$/;
    const TZ_RE = /^[\w\/+-]{1,64}$/;

    let offer = null;           /* the parsed #trg-offer */
    let api = '';
    let texts = {};
    let readyAt = 0;            /* no exit intent before, */
    let quietUntil = 0;         /* nor right after a link click */
    let shown = false;          /* once per page view */
    let ui = null;              /* the open dialog */

    const now = () => Date.now();
    const isObject = (v) => v !== null && typeof v === 'object';
    const str = (v) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

    const safe = (fn) => function () {
        try {
            return fn.apply(this, arguments);
        } catch (e) {
            return undefined;
        }
    };

    const on = (target, types, fn, opts) => {
        for (const type of types.split(' ')) {
            target.addEventListener(type, safe(fn), opts);
        }
    };

    const post = (path, body) => fetch(api + path, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
        keepalive: true
    });

    const report = safe((path, body) => post(path, body).catch(() => {}));


    /* ------------------------------------------------ dataLayer forwarding */

    let dl, seen = 0, queue = [], timer = 0;

    const qty = (v) => Math.min(Math.floor(v) || 0, 999);

    /* a GA4 entry ({event, ecommerce} or gtag's arguments) as module events,
     * without what the module would refuse: a batch is all or nothing */
    const mapEntry = (e) => {
        let name, data;

        if (Array.isArray(e) || String(e) === '[object Arguments]') {
            name = e[0] === 'event' && e[1];
            data = e[2];
        } else if (isObject(e)) {
            name = e.event;
            data = e.ecommerce || e;
        }

        if (!isObject(data)) {
            return [];
        }

        if (name === 'purchase') {
            const ev = { type: 'purchase', order: str(data.transaction_id), amount: str(data.value) };

            /* a purchase matters more than its amount */
            if (!AMOUNT_RE.test(ev.amount)) {
                ev.amount = Number(data.value) >= 0 ? Number(data.value).toFixed(2) : '0';
            }
            if (PROMO_RE.test(str(data.coupon))) {
                ev.promo = data.coupon;
            }
            return ID_RE.test(ev.order) && AMOUNT_RE.test(ev.amount) ? [ev] : [];
        }

        const type = { view_item: 'view', add_to_cart: 'cart_add', remove_from_cart: 'cart_remove' }[name];

        return (type && Array.isArray(data.items) ? data.items : []).filter(isObject).map((it) => {
            const ev = { type, sku: str(it.item_id) }, n = qty(it.quantity);

            if (type === 'cart_add' || (type === 'cart_remove' && n > 0)) {
                ev.qty = n > 0 ? n : 1;
            }
            return ev;
        }).filter((ev) => ID_RE.test(ev.sku));
    };

    const flush = () => {
        clearTimeout(timer);

        while (queue.length) {
            report('events', { events: queue.splice(0, 20) });
        }
    };

    /* what was added since last time, through push or not */
    const scan = () => {
        if (window.dataLayer !== dl) {
            hook();
        }

        if (!Array.isArray(dl)) {
            return;
        }

        const before = queue.length;

        for (seen = Math.min(seen, dl.length); seen < dl.length; seen++) {
            queue.push(...(safe(mapEntry)(dl[seen]) || []));
        }

        if (queue.length > before) {
            clearTimeout(timer);
            timer = setTimeout(safe(flush), queue.length < 20 ? 300 : 0);
        }
    };

    const hook = () => {
        const list = dl = window.dataLayer, push = list && list.push;

        seen = 0;

        if (Array.isArray(list)) {
            list.push = function () {
                const r = push.apply(this, arguments);
                safe(scan)();
                return r;
            };
        }
    };

    const forward = () => {
        scan();
        /* for a dataLayer made later, replaced, or pushed to around us */
        setInterval(safe(scan), 1000);
        on(doc, 'visibilitychange', () => doc.hidden && flush());
    };


    /* ---------------------------------------------------------- the dialog */

    const CSS = `
:host{all:initial!important}
*{box-sizing:border-box}
.backdrop{--accent:var(--trg-accent,#4f46e5);--on-accent:var(--trg-accent-text,#fff);--r:var(--trg-radius,18px);--r2:calc(var(--r)*.6);--line:rgba(127,127,127,.3);
position:fixed;top:0;right:0;bottom:0;left:0;z-index:var(--trg-z,2147483000);display:flex;align-items:center;justify-content:center;padding:16px;background:rgba(12,14,22,.6);
font:15px/1.5 var(--trg-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);color:var(--trg-text,#171a21);text-align:left}
.dialog{position:relative;width:100%;max-width:440px;max-height:calc(100vh - 32px);overflow:auto;overscroll-behavior:contain;outline:0;
background:var(--trg-bg,#fff);border-radius:var(--r);box-shadow:0 24px 70px rgba(0,0,0,.3)}
.hero{padding:24px 56px 22px;text-align:center;font-size:48px;font-weight:800;line-height:1.05;overflow-wrap:anywhere;color:var(--on-accent);
background:radial-gradient(circle at 10% 0,rgba(255,255,255,.3),transparent 50%) var(--accent)}
.trg-close{position:absolute;top:12px;right:12px;width:36px;height:36px;padding:0;border:0;border-radius:50%;
background:rgba(255,255,255,.2);color:var(--on-accent);font:300 28px/36px Arial,sans-serif;cursor:pointer}
.body{padding:22px 24px 20px}
h2{margin:0 0 6px;font-size:22px;line-height:1.25;outline:0}
p{margin:0 0 18px}
.sub,.note{opacity:.75}
.note{margin:0}
.group p{margin:0 0 8px;font-size:12px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;opacity:.6}
ul{display:grid;gap:8px;margin:0 0 16px;padding:0;list-style:none}
.trg-item{display:grid;grid-template-columns:40px 1fr auto;gap:12px;align-items:center;padding:6px 12px 6px 6px;border:1px solid var(--line);border-radius:12px}
.thumb{display:grid;place-items:center;width:40px;height:40px;border-radius:8px;object-fit:cover;background:var(--line);font-weight:700}
.info{min-width:0}
.name{display:block;overflow:hidden;font-weight:600;white-space:nowrap;text-overflow:ellipsis;color:inherit;text-decoration:none}
a.name:hover{text-decoration:underline}
.tag{display:block;font-size:12px;font-weight:600;color:var(--accent)}
.price{font-weight:600}
label{display:block;margin:0 0 6px;font-size:13px;font-weight:600}
[type=email]{width:100%;height:48px;padding:0 14px;font:inherit;font-size:16px;color:inherit;background:none;border:1.5px solid var(--line);border-radius:var(--r2);outline:0}
[type=email]:focus{border-color:var(--accent);box-shadow:0 0 0 1.5px var(--accent)}
[aria-invalid=true]{border-color:#d92d20}
.consent{display:flex;gap:10px;margin:14px 0 0;font-weight:400;cursor:pointer}
.consent input{flex:none;width:18px;height:18px;margin:1px 0 0;accent-color:var(--accent)}
.trg-error{margin:10px 0 0;font-size:14px;color:#d92d20}
.trg-error:empty{margin:0}
.btn{display:flex;align-items:center;justify-content:center;gap:10px;border:0;border-radius:var(--r2);font:inherit;font-weight:700;color:var(--on-accent);background:var(--accent);cursor:pointer}
.btn:hover{filter:brightness(1.1)}
[type=submit]{width:100%;height:50px;margin:16px 0 0;font-size:16px}
[aria-busy=true]::after{content:"";width:14px;height:14px;border:2px solid;border-right-color:transparent;border-radius:50%;animation:spin .7s linear infinite}
.trg-decline{display:block;margin:8px auto 0;padding:8px 12px;border:0;background:none;font:inherit;color:inherit;opacity:.65;text-decoration:underline;cursor:pointer}
.codebox{display:flex;gap:10px;align-items:center;margin:18px 0 14px;padding:10px 10px 10px 18px;border:2px dashed var(--accent);border-radius:var(--r2)}
.trg-code{flex:1;min-width:0;font:700 clamp(17px,5.4vw,26px)/1.2 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.04em;white-space:nowrap;user-select:all}
.codebox .btn{height:42px;padding:0 16px;font-size:14px}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.trg-close:focus-visible{outline-color:currentColor;outline-offset:-4px}
[tabindex="-1"]:focus-visible,[type=email]:focus-visible{outline:0}
@keyframes spin{to{transform:rotate(1turn)}}
@keyframes fade{from{opacity:0}}
@keyframes pop{from{opacity:0;transform:translateY(16px) scale(.97)}}
@media (max-width:599.98px){
.backdrop{align-items:flex-end;padding:0}
.dialog{max-height:92vh;border-radius:var(--r) var(--r) 0 0;padding-bottom:env(safe-area-inset-bottom)}
.hero{padding:18px 52px 16px;font-size:38px}
.body{padding:20px 20px 14px}}
@media (prefers-reduced-motion:no-preference){
.backdrop{animation:fade .2s}
.dialog{animation:pop .3s cubic-bezier(.2,.8,.3,1.1)}}`;

    const text = (key, code) => str(texts[key]).replace(/\{(discount|code)\}/g,
        (m, k) => str(k === 'code' ? code : offer.discount));

    /* page data only ever goes in as text or as attribute values */
    const el = (tag, attrs, ...kids) => {
        const e = doc.createElement(tag);

        for (const [k, v] of Object.entries(attrs)) {
            if (k === 'text') {
                e.textContent = v;
            } else if (v != null && v !== false) {
                e.setAttribute(k, v);
            }
        }

        e.append(...kids.filter(Boolean));
        return e;
    };

    const safeUrl = (v) => {
        try {
            const u = new URL(v, location.href);
            return v && /^https?:$/.test(u.protocol) ? u.href : '';
        } catch (e) {
            return '';
        }
    };

    const price = (it) => {
        const p = str(it.price).trim(), c = str(it.currency);

        try {
            if (p && c && isFinite(p)) {
                return new Intl.NumberFormat(offer.lang, { style: 'currency', currency: c }).format(p);
            }
        } catch (e) { /* an unknown currency: as given */ }

        return p && c ? p + ' ' + c : p;
    };

    const item = (it) => {
        const name = str(it.name) || str(it.sku), url = safeUrl(it.url), img = safeUrl(it.image), n = qty(it.qty);
        const letter = el('span', { class: 'thumb', 'aria-hidden': 'true', text: name[0] });
        const thumb = img ? el('img', { class: 'thumb', src: img, alt: '' }) : letter;

        on(thumb, 'error', () => thumb.replaceWith(letter));

        return el('li', { class: 'trg-item' }, thumb,
            el('span', { class: 'info' },
                el(url ? 'a' : 'span', { class: 'name', href: url || null, text: name }),
                it.in_cart === true && el('span', { class: 'tag', text: text('in_cart') + (n > 1 ? ' \u00b7 \u00d7' + n : '') })),
            el('span', { class: 'price', text: price(it) }));
    };

    /* at most three: the cart, then what was viewed */
    const groups = () => {
        const list = (Array.isArray(offer.items) ? offer.items : [])
            .filter((it) => isObject(it) && (str(it.name) || str(it.sku))).slice(0, 3);

        return [true, false].map((cart) => {
            const items = list.filter((it) => (it.in_cart === true) === cart), id = cart ? 'trg-gc' : 'trg-gv';

            return items.length > 0 && el('div', { class: 'group' },
                el('p', { id, text: text(cart ? 'cart_title' : 'viewed_title') }),
                el('ul', { 'aria-labelledby': id }, ...items.map(item)));
        });
    };

    const build = () => {
        const v = {}, discount = str(offer.discount), consent = typeof offer.consent === 'string';

        v.host = el('div', { id: 'trg-widget-host' });
        v.root = v.host.attachShadow({ mode: 'open' });

        /* a constructed sheet is not inline CSS: no CSP style-src needed */
        try {
            const sheet = new CSSStyleSheet();
            sheet.replaceSync(CSS);
            v.root.adoptedStyleSheets = [sheet];
        } catch (e) {
            v.root.append(el('style', { nonce: script.nonce, text: CSS }));
        }

        v.email = el('input', { id: 'trg-email', type: 'email', autocomplete: 'email', maxlength: 254, required: '',
                                placeholder: text('email_placeholder') || null, 'aria-describedby': 'trg-error' });
        v.consent = consent && el('input', { type: 'checkbox', required: '', 'aria-describedby': 'trg-error' });
        v.error = el('p', { class: 'trg-error', id: 'trg-error', 'aria-live': 'assertive' });
        v.submit = el('button', { type: 'submit', class: 'btn', text: text('submit') });
        v.decline = el('button', { type: 'button', class: 'trg-decline', text: text('decline') });
        v.close = el('button', { type: 'button', class: 'trg-close', 'aria-label': text('close'), text: '\u00d7' });

        v.form = el('form', { novalidate: '' },
            el('label', { for: 'trg-email', text: text('email_label') }),
            v.email,
            consent && el('label', { class: 'consent' }, v.consent,
                el('span', { text: offer.consent + ' ' }, el('span', { class: 'sub', text: text('consent_required') }))),
            v.error, v.submit, v.decline);

        v.view = el('div', { class: 'body' },
            el('h2', { id: 'trg-title', text: text('title') }),
            el('p', { class: 'sub', id: 'trg-sub', text: text('subtitle') }),
            ...groups(),
            v.form);

        v.dialog = el('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', tabindex: '-1',
                               'aria-labelledby': 'trg-title', 'aria-describedby': 'trg-sub' },
            /* the amount is decoration when the title says it */
            el('div', { class: 'hero', 'aria-hidden': text('title').includes(discount) && 'true', text: discount }),
            v.close,
            v.view);

        v.backdrop = el('div', { class: 'backdrop' }, v.dialog);
        v.root.append(v.backdrop);

        on(v.close, 'click', () => close(true));
        on(v.decline, 'click', () => {
            report('decline', { token: offer.token });
            close();
        });
        on(v.form, 'submit', (e) => {
            e.preventDefault();
            subscribe();
        });
        on(v.form, 'input', () => setError(''));

        /* a click on the backdrop, not a text selection that ends there */
        on(v.backdrop, 'mousedown', (e) => { v.down = e.target; });
        on(v.backdrop, 'click', (e) => e.target === v.backdrop && v.down === e.target && close(true));

        return v;
    };

    const setError = (msg, field) => {
        ui.error.textContent = msg;
        ui.email.setAttribute('aria-invalid', field === ui.email);

        if (field) {
            field.focus();
        }
    };

    const subscribe = () => {
        const v = ui, email = v.email.value.trim();
        let tz = null;

        if (v.busy) {
            return;
        }

        if (email.length > 254 || !EMAIL_RE.test(email)) {
            return setError(text('error_email'), v.email);
        }

        if (v.consent && !v.consent.checked) {
            return setError(text('error_consent'), v.consent);
        }

        try {
            tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
        } catch (e) { /* none */ }

        setError('');
        v.busy = true;
        v.submit.setAttribute('aria-busy', 'true');

        const done = (error, data) => {
            v.busy = false;
            v.submit.removeAttribute('aria-busy');

            if (ui === v) {
                data ? success(v, data) : setError(text(error), error === 'error_email' && v.email);
            }
        };

        new Promise((resolve) => resolve(post('subscribe', {
            token: offer.token,
            email,
            consent: !!v.consent && v.consent.checked,
            tz: TZ_RE.test(tz) ? tz : null
        })))
            .then((res) => res.json().catch(() => ({})).then((data) => {
                const s = res.status, error = str(data.error);

                done(s === 400 ? (/consent/.test(error) ? 'error_consent'
                                  : /token/.test(error) ? 'error_token' : 'error_email')
                     : s === 403 ? (/not available/.test(error) ? 'error_unavailable'
                                                                  : 'error_token')
                     : s === 429 ? 'error_limit' : 'error_generic',
                     res.ok && data.ok && data);
            }))
            .catch(safe(() => done('error_generic')));
    };

    const success = (v, data) => {
        const code = str(data.code), copy = el('button', { type: 'button', class: 'btn', text: text('copy') });
        const codeEl = el('span', { class: 'trg-code', text: code });
        const title = el('h2', { id: 'trg-stitle', tabindex: '-1', text: text('success_title') });

        v.done = true;
        v.view.replaceWith(el('div', { class: 'body' },
            title,
            /* no code: double opt-in, the code comes by email */
            code && el('div', { class: 'codebox' }, codeEl, copy),
            /* the email promise only where a letter will really go */
            el('p', { class: 'note', text: code ? text(offer.mail ? 'success_text' : 'success_code', code)
                                                : text('success_confirm') })));
        v.dialog.setAttribute('aria-labelledby', 'trg-stitle');
        v.dialog.removeAttribute('aria-describedby');
        title.focus();

        on(copy, 'click', () => {
            const copied = () => {
                copy.textContent = text('copied');
                setTimeout(() => { copy.textContent = text('copy'); }, 2500);
            };

            getSelection().selectAllChildren(codeEl);

            if (navigator.clipboard) {
                navigator.clipboard.writeText(code).then(safe(copied), () => {});
            } else if (doc.execCommand('copy')) {
                copied();
            }
        });
    };

    const focusables = () => [...ui.dialog.querySelectorAll('a[href],button,input')];

    /* Esc closes; Tab and Shift+Tab go round inside the dialog */
    const onKey = (e) => {
        const list = focusables(), i = list.indexOf(ui.root.activeElement), step = e.shiftKey ? -1 : 1;

        if (e.key === 'Escape' && !e.isComposing) {
            e.preventDefault();
            close(true);
        } else if (e.key === 'Tab') {
            e.preventDefault();
            list[(list.length + (i < 0 ? (step > 0 ? -1 : 0) : i) + step) % list.length].focus();
        }
    };

    const open = () => {
        const root = doc.documentElement, v = !shown && offer && doc.body && build();

        if (!v) {
            return false;
        }

        shown = true;
        ui = v;
        v.back = doc.activeElement;
        v.overflow = root.style.overflow;
        root.style.overflow = 'hidden';
        doc.body.append(v.host);

        doc.addEventListener('keydown', v.onKey = safe(onKey), true);
        /* focus that got out anyway comes back */
        doc.addEventListener('focusin', v.onFocus = safe((e) => e.target !== v.host && focusables()[0].focus()), true);

        /* on touch screens a focused field would pop the keyboard up */
        (matchMedia('(pointer: coarse)').matches ? v.dialog : v.email).focus();

        report('events', { type: 'offer_shown' });
        return true;
    };

    /* dismissed: closed without an answer (Esc, close button, backdrop) */
    const close = (dismissed) => {
        const v = ui;

        ui = null;
        doc.removeEventListener('keydown', v.onKey, true);
        doc.removeEventListener('focusin', v.onFocus, true);
        v.host.remove();
        doc.documentElement.style.overflow = v.overflow;

        if (dismissed && !v.done) {
            report('events', { type: 'offer_closed' });
        }

        if (v.back && v.back.focus) {
            v.back.focus();
        }

        /* our history entry goes: one "back" leaves the page */
        if (trap === 1 && isTrap(history.state)) {
            trap = 3;
            history.back();
        }
    };


    /* -------------------------------------------------------- exit intent */

    let trap = 0;               /* "back": 1 = our entry is on top, 2 = used, 3 = going */

    const isTrap = (state) => isObject(state) && state.trgWidget === 1;

    /* an automatic signal: once, never early, not while leaving or hidden */
    const trigger = () => {
        const t = now();
        return t >= readyAt && t >= quietUntil && !doc.hidden && open();
    };

    const signals = () => {
        const s = offer.signals || { top: true }, idle = s.idle * 1000 || 0, opts = { capture: true, passive: true };
        let active = now(), hiddenAt = 0, clickAt = 0, lastY = scrollY, lastT = 0, runY = -1, runT = 0;

        /* a click on a link is no exit, a "back to top" button no flick */
        on(window, 'click', (e) => {
            clickAt = now();
            if (e.target.closest('a[href]')) {
                quietUntil = clickAt + 1500;
            }
        }, opts);
        on(window, 'beforeunload', () => { quietUntil = now() + 3000; });

        if (s.top) {
            on(doc, 'mouseout', (e) => !e.relatedTarget && e.clientY <= 0 && trigger());
        }

        if (s.scroll) {
            /* a fast flick (> 0.5 px/ms) to the top from 400px down or more */
            on(window, 'scroll', () => {
                const y = scrollY, t = now();

                if (y >= lastY || t - clickAt < 1500) {
                    runY = -1;
                } else {
                    if (runY < 0 || t - lastT > 250) {
                        runY = lastY;
                        runT = lastT;
                    }
                    if (y <= 120 && runY >= 400 && (runY - y) / (t - runT + 1) > 0.5) {
                        trigger();
                    }
                }

                lastY = y;
                lastT = t;
            }, { passive: true });
        }

        if (s.back) {
            /* after a gesture: browsers skip entries pushed without one */
            on(window, 'pointerdown keydown touchend click', () => {
                if (!trap && !shown) {
                    trap = 1;
                    history.pushState(Object.assign({}, isObject(history.state) && history.state,
                                                    { trgWidget: 1 }), '');
                }
            }, opts);

            on(window, 'popstate', () => {
                if (trap === 1 && !isTrap(history.state)) {
                    trap = 2;
                    /* too early, or shown already: back as asked */
                    if (!trigger()) {
                        history.back();
                    }
                } else if (trap === 3) {
                    trap = 2;
                }
            });
        }

        if (s.tab) {
            /* back after 5 s or more away, not from a tab a link opened */
            on(doc, 'visibilitychange', () => {
                const t = now();

                if (doc.hidden) {
                    hiddenAt = t < quietUntil ? 0 : t;
                } else if (hiddenAt && t - hiddenAt >= 5000) {
                    trigger();
                }
            });
        }

        if (idle > 0) {
            on(window, 'pointermove pointerdown keydown scroll touchstart wheel', () => { active = now(); }, opts);

            const check = safe(() => {
                const left = Math.max(active + idle, readyAt) - now();

                if (left > 0) {
                    setTimeout(check, left);
                } else if (!trigger() && !shown) {
                    /* hidden or leaving: wait another idle period */
                    active = now();
                    setTimeout(check, idle);
                }
            });

            check();
        }
    };


    /* -------------------------------------------------------------- start */

    const start = () => {
        /* the shop's own <script src=".../widget.js" data-api data-datalayer> */
        const shopTag = doc.querySelector('script[data-datalayer][src*="widget.js"]');
        const tag = shopTag || script;

        readyAt = now();

        try {
            offer = JSON.parse(ours.textContent);
        } catch (e) { /* no offer */ }

        if (isObject(offer)) {
            texts = Object.assign({}, TEXTS.en, TEXTS[offer.lang]);

            for (const [k, v] of Object.entries(offer.texts || {})) {
                if (typeof v === 'string') {
                    texts[k] = v;
                }
            }

            readyAt += offer.delay * 1000 || 0;
        } else {
            offer = null;
        }

        api = str(offer && offer.api) || tag.getAttribute('data-api') || str(tag.src).replace(/widget\.js.*/, '');

        /* the visitor's email and events go to this page's origin only */
        try {
            const u = new URL(api, location.href);
            api = api && u.origin === location.origin ? u.href : '';
        } catch (e) {
            api = '';
        }

        if (!api) {
            offer = null;
            return;
        }

        /* the first copy to run forwards for the shop's tag */
        if (shopTag ? !prior : offer && offer.datalayer === true) {
            forward();
        }

        if (offer) {
            signals();
        }
    };

    try {
        window.TriggerWidget = Object.freeze({
            version: '1.0.0',
            /* opens the offer now: no delay, but still once per page view */
            open: safe(() => open())
        });

        if (doc.readyState === 'loading') {
            on(doc, 'DOMContentLoaded', start);
        } else {
            start();
        }
    } catch (e) { /* never into the page */ }
})();
