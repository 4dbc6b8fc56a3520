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

    /* the texts, in the order of these keys (README.md, "Texts") */
    const KEYS = (
        'title subtitle email_label email_placeholder consent ' +
        'consent_required submit decline close in_cart cart_title ' +
        'viewed_title success_title success_text success_code ' +
        'success_confirm copy copied reminder expires error_email ' +
        'error_consent error_generic error_limit error_token ' +
        'error_unavailable').split(' ');

    const TEXTS = {
        en: [
            'Wait! Here is {discount} off',
            'Leave your email and get a personal code for your order.',
            'Your email',
            'you@example.com',
            'I agree to receive emails from this shop.',
            '(required)',
            'Get my discount',
            'No thanks',
            'Close',
            'In your cart',
            'Your cart',
            'You looked at',
            'Your discount is ready!',
            'Use code {code} at checkout. We have also sent it to your email.',
            'Use code {code} at checkout.',
            'Check your inbox: confirm your address and we will send your code.',
            'Copy',
            'Copied!',
            'Your discount code',
            'Expires in {time}',
            'Please enter a valid email address.',
            'Please tick the box to continue.',
            'Something went wrong. Please try again.',
            'Too many attempts. Please try again later.',
            'This offer has expired. Please reload the page.',
            'This offer is no longer available.'
        ],
        ru: [
            '\u041f\u043e\u0434\u043e\u0436\u0434\u0438\u0442\u0435! \u0414\u0430\u0440\u0438\u043c \u0441\u043a\u0438\u0434\u043a\u0443 {discount}',
            '\u041e\u0441\u0442\u0430\u0432\u044c\u0442\u0435 email \u0438 \u043f\u043e\u043b\u0443\u0447\u0438\u0442\u0435 \u043f\u0435\u0440\u0441\u043e\u043d\u0430\u043b\u044c\u043d\u044b\u0439 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 \u043d\u0430 \u0437\u0430\u043a\u0430\u0437.',
            '\u0412\u0430\u0448 email',
            'ivan@primer.ru',
            '\u0421\u043e\u0433\u043b\u0430\u0448\u0430\u044e\u0441\u044c \u043f\u043e\u043b\u0443\u0447\u0430\u0442\u044c \u043f\u0438\u0441\u044c\u043c\u0430 \u043e\u0442 \u043c\u0430\u0433\u0430\u0437\u0438\u043d\u0430.',
            '(\u043e\u0431\u044f\u0437\u0430\u0442\u0435\u043b\u044c\u043d\u043e)',
            '\u041f\u043e\u043b\u0443\u0447\u0438\u0442\u044c \u0441\u043a\u0438\u0434\u043a\u0443',
            '\u041d\u0435\u0442, \u0441\u043f\u0430\u0441\u0438\u0431\u043e',
            '\u0417\u0430\u043a\u0440\u044b\u0442\u044c',
            '\u0412 \u043a\u043e\u0440\u0437\u0438\u043d\u0435',
            '\u0412 \u0432\u0430\u0448\u0435\u0439 \u043a\u043e\u0440\u0437\u0438\u043d\u0435',
            '\u0412\u044b \u0441\u043c\u043e\u0442\u0440\u0435\u043b\u0438',
            '\u0421\u043a\u0438\u0434\u043a\u0430 \u0432\u0430\u0448\u0430!',
            '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 {code} \u043f\u0440\u0438 \u043e\u0444\u043e\u0440\u043c\u043b\u0435\u043d\u0438\u0438 \u0437\u0430\u043a\u0430\u0437\u0430. \u041c\u044b \u043e\u0442\u043f\u0440\u0430\u0432\u0438\u043b\u0438 \u0435\u0433\u043e \u0438 \u043d\u0430 \u043f\u043e\u0447\u0442\u0443.',
            '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434 {code} \u043f\u0440\u0438 \u043e\u0444\u043e\u0440\u043c\u043b\u0435\u043d\u0438\u0438 \u0437\u0430\u043a\u0430\u0437\u0430.',
            '\u041f\u0440\u043e\u0432\u0435\u0440\u044c\u0442\u0435 \u043f\u043e\u0447\u0442\u0443: \u043f\u043e\u0434\u0442\u0432\u0435\u0440\u0434\u0438\u0442\u0435 \u0430\u0434\u0440\u0435\u0441, \u0438 \u043c\u044b \u043f\u0440\u0438\u0448\u043b\u0451\u043c \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434.',
            '\u041a\u043e\u043f\u0438\u0440\u043e\u0432\u0430\u0442\u044c',
            '\u0421\u043a\u043e\u043f\u0438\u0440\u043e\u0432\u0430\u043d\u043e!',
            '\u0412\u0430\u0448 \u043f\u0440\u043e\u043c\u043e\u043a\u043e\u0434',
            '\u0414\u0435\u0439\u0441\u0442\u0432\u0443\u0435\u0442 \u0435\u0449\u0451 {time}',
            '\u0412\u0432\u0435\u0434\u0438\u0442\u0435 \u043a\u043e\u0440\u0440\u0435\u043a\u0442\u043d\u044b\u0439 \u0430\u0434\u0440\u0435\u0441 \u043f\u043e\u0447\u0442\u044b.',
            '\u041e\u0442\u043c\u0435\u0442\u044c\u0442\u0435 \u0441\u043e\u0433\u043b\u0430\u0441\u0438\u0435, \u0447\u0442\u043e\u0431\u044b \u043f\u0440\u043e\u0434\u043e\u043b\u0436\u0438\u0442\u044c.',
            '\u0427\u0442\u043e-\u0442\u043e \u043f\u043e\u0448\u043b\u043e \u043d\u0435 \u0442\u0430\u043a. \u041f\u043e\u043f\u0440\u043e\u0431\u0443\u0439\u0442\u0435 \u0435\u0449\u0451 \u0440\u0430\u0437.',
            '\u0421\u043b\u0438\u0448\u043a\u043e\u043c \u043c\u043d\u043e\u0433\u043e \u043f\u043e\u043f\u044b\u0442\u043e\u043a. \u041f\u043e\u043f\u0440\u043e\u0431\u0443\u0439\u0442\u0435 \u043f\u043e\u0437\u0436\u0435.',
            '\u041f\u0440\u0435\u0434\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u0443\u0441\u0442\u0430\u0440\u0435\u043b\u043e. \u041e\u0431\u043d\u043e\u0432\u0438\u0442\u0435 \u0441\u0442\u0440\u0430\u043d\u0438\u0446\u0443.',
            '\u042d\u0442\u043e \u043f\u0440\u0435\u0434\u043b\u043e\u0436\u0435\u043d\u0438\u0435 \u0431\u043e\u043b\u044c\u0448\u0435 \u043d\u0435\u0434\u043e\u0441\u0442\u0443\u043f\u043d\u043e.'
        ],
        de: [
            'Warten Sie! {discount} Rabatt f\u00fcr Sie',
            'Geben Sie Ihre E-Mail-Adresse ein und erhalten Sie einen pers\u00f6nlichen Code f\u00fcr Ihre Bestellung.',
            'Ihre E-Mail-Adresse',
            'name@beispiel.de',
            'Ich m\u00f6chte E-Mails von diesem Shop erhalten.',
            '(erforderlich)',
            'Rabatt sichern',
            'Nein, danke',
            'Schlie\u00dfen',
            'Im Warenkorb',
            'Ihr Warenkorb',
            'Zuletzt angesehen',
            'Ihr Rabatt ist bereit!',
            'Geben Sie den Code {code} an der Kasse ein. Wir haben ihn Ihnen auch per E-Mail geschickt.',
            'Geben Sie den Code {code} an der Kasse ein.',
            'Sehen Sie in Ihr Postfach: Best\u00e4tigen Sie Ihre Adresse, dann senden wir Ihnen den Code.',
            'Kopieren',
            'Kopiert!',
            'Ihr Rabattcode',
            'G\u00fcltig noch {time}',
            'Bitte geben Sie eine g\u00fcltige E-Mail-Adresse ein.',
            'Bitte setzen Sie das H\u00e4kchen, um fortzufahren.',
            'Etwas ist schiefgelaufen. Bitte versuchen Sie es erneut.',
            'Zu viele Versuche. Bitte versuchen Sie es sp\u00e4ter erneut.',
            'Dieses Angebot ist abgelaufen. Bitte laden Sie die Seite neu.',
            'Dieses Angebot ist nicht mehr verf\u00fcgbar.'
        ],
        fr: [
            'Attendez\u00a0! {discount} de r\u00e9duction pour vous',
            'Laissez votre e-mail et recevez un code personnel pour votre commande.',
            'Votre e-mail',
            'vous@exemple.fr',
            'J\u2019accepte de recevoir des e-mails de cette boutique.',
            '(obligatoire)',
            'Obtenir ma r\u00e9duction',
            'Non merci',
            'Fermer',
            'Dans votre panier',
            'Votre panier',
            'Vous avez regard\u00e9',
            'Votre r\u00e9duction est pr\u00eate\u00a0!',
            'Utilisez le code {code} lors du paiement. Nous vous l\u2019avons aussi envoy\u00e9 par e-mail.',
            'Utilisez le code {code} lors du paiement.',
            'Consultez votre bo\u00eete de r\u00e9ception\u00a0: confirmez votre adresse et nous vous enverrons votre code.',
            'Copier',
            'Copi\u00e9\u00a0!',
            'Votre code de r\u00e9duction',
            'Expire dans {time}',
            'Veuillez saisir une adresse e-mail valide.',
            'Veuillez cocher la case pour continuer.',
            'Une erreur est survenue. Veuillez r\u00e9essayer.',
            'Trop de tentatives. Veuillez r\u00e9essayer plus tard.',
            'Cette offre a expir\u00e9. Veuillez recharger la page.',
            'Cette offre n\u2019est plus disponible.'
        ],
        es: [
            '\u00a1Espera! {discount} de descuento para ti',
            'D\u00e9janos tu email y recibe un c\u00f3digo personal para tu pedido.',
            'Tu email',
            'tu@ejemplo.es',
            'Acepto recibir emails de esta tienda.',
            '(obligatorio)',
            'Quiero mi descuento',
            'No, gracias',
            'Cerrar',
            'En tu carrito',
            'Tu carrito',
            'Has visto',
            '\u00a1Tu descuento est\u00e1 listo!',
            'Usa el c\u00f3digo {code} al pagar. Tambi\u00e9n te lo hemos enviado por email.',
            'Usa el c\u00f3digo {code} al pagar.',
            'Revisa tu bandeja de entrada: confirma tu direcci\u00f3n y te enviaremos tu c\u00f3digo.',
            'Copiar',
            '\u00a1Copiado!',
            'Tu c\u00f3digo de descuento',
            'Caduca en {time}',
            'Introduce una direcci\u00f3n de email v\u00e1lida.',
            'Marca la casilla para continuar.',
            'Algo ha fallado. Int\u00e9ntalo de nuevo.',
            'Demasiados intentos. Int\u00e9ntalo m\u00e1s tarde.',
            'Esta oferta ha caducado. Recarga la p\u00e1gina.',
            'Esta oferta ya no est\u00e1 disponible.'
        ]
    };

    /* what the module accepts (src/ngx_http_trigger_event.c) */
    const EMAIL_RE = /^[\w.+!#$%&'*\/=?^`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z0-9-]{2,}$/;
    const ID_RE = /^[\w.:\/@+#-]{1,64}$/;
    const PROMO_RE = /^[\w-]{1,32}$/;
    const AMOUNT_RE = /^\d{1,10}(\.\d{1,2})?$/;
    const TZ_RE = /^[\w\/+-]{1,64}$/;
    const FORMATS = ['modal', 'slidein', 'bar-top', 'bar-bottom'];
    const HIDDEN = 'trg-reminder-hidden';  /* localStorage: the code dismissed */

    let offer = null;           /* the parsed #trg-offer */
    let api = '';
    let lang = 'en';
    let texts = {};
    let readyAt = 0;            /* no exit intent before, */
    let quietUntil = 0;         /* nor right after a link click */
    let shown = false;          /* once per page view */
    let ui = null;              /* the open dialog */
    let host = null;            /* the shadow root's host, once needed, */
    let root = null;            /* and the root */
    let preview = false;        /* a staff preview: opens at once, sends nothing */

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

    /* a staff preview sends nothing */
    const report = safe((path, body) => preview || post(path, body).catch(() => {}));


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
:host{all:initial!important;font:15px/1.45 var(--trg-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif)!important;color:var(--trg-text,#171a21)!important;
--accent:var(--trg-accent,#4f46e5);--on-accent:var(--trg-accent-text,#fff);--bg:var(--trg-bg,#fff);--r:var(--trg-radius,18px);--r2:calc(var(--r)*.6);--line:rgba(127,127,127,.3);--z:var(--trg-z,2147483000)}
*{box-sizing:border-box}
.backdrop{position:fixed;top:0;right:0;bottom:0;left:0;z-index:var(--z);display:flex;align-items:center;justify-content:center;padding:16px;background:rgba(12,14,22,.6)}
.dialog,.trg-reminder{border:1px solid transparent;background:var(--bg);box-shadow:0 16px 60px rgba(0,0,0,.3)}
.dialog{position:relative;display:flex;flex-direction:column;width:100%;max-width:440px;max-height:100%;overflow:auto;overscroll-behavior:contain;outline:0;border-radius:var(--r)}
.hero{flex:none;padding:14px 56px;text-align:center;font-size:40px;font-weight:800;line-height:1.1;overflow-wrap:anywhere;color:var(--on-accent);
background:radial-gradient(circle at 10% 0,rgba(255,255,255,.3),transparent 50%) var(--accent)}
.x{position:absolute;top:8px;right:8px;width:40px;height:40px;padding:0;border:2px solid transparent;border-radius:50%;background:rgba(255,255,255,.2);color:var(--on-accent);cursor:pointer}
.x::before,.x::after{content:"";position:absolute;top:50%;left:50%;width:18px;margin:-1px 0 0 -9px;border-top:2px solid;transform:rotate(45deg)}
.x::after{transform:rotate(-45deg)}
.body{display:flex;flex-direction:column;min-height:0;padding:18px 24px 12px}
h2{margin:0 0 4px;font-size:21px;line-height:1.25;outline:0}
p{margin:0 0 14px}
.sub,.note{opacity:.8}
.note{margin:0}
.items{flex:0 1 auto;min-height:64px;margin:0 0 14px;overflow:auto;overscroll-behavior:contain}
.group p{margin:0 0 6px;font-size:12px;font-weight:600;letter-spacing:.06em;text-transform:uppercase;opacity:.75}
ul{display:grid;gap:6px;margin:0 0 10px;padding:0;list-style:none}
.group:last-child ul{margin:0}
.trg-item{display:grid;grid-template-columns:36px 1fr auto;gap:10px;align-items:center;padding:4px 10px 4px 4px;border:1px solid var(--line);border-radius:10px}
.thumb{display:grid;place-items:center;width:36px;height:36px;border-radius:7px;object-fit:cover;background:var(--line);font-weight:700}
.info{min-width:0}
.name{display:block;overflow:hidden;font-weight:600;white-space:nowrap;text-overflow:ellipsis;color:inherit;text-decoration:none}
a.name:hover{text-decoration:underline}
.tag{padding:0 6px;border-radius:4px;font-size:11px;font-weight:700;color:var(--on-accent);background:var(--accent)}
.price{font-weight:600}
label{display:block;margin:0 0 4px;font-size:13px;font-weight:600}
[type=email]{width:100%;height:46px;padding:0 14px;font:inherit;font-size:16px;color:inherit;background:none;outline:0;border:1.5px solid #767676;
border-color:color-mix(in srgb,currentColor 60%,transparent);border-radius:var(--r2)}
[type=email]:focus{border-color:var(--accent);box-shadow:0 0 0 1.5px var(--accent)}
[aria-invalid=true]{border-color:#c4320a}
.consent{display:flex;gap:10px;margin:10px 0 0;font-size:13px;line-height:1.35;font-weight:400;cursor:pointer}
.consent input{flex:none;width:18px;height:18px;margin:0;accent-color:var(--accent)}
.trg-error{margin:8px 0 0;font-size:14px;color:#c4320a}
.trg-error:empty{margin:0}
.btn{display:flex;align-items:center;justify-content:center;gap:10px;border:2px solid transparent;border-radius:var(--r2);font:inherit;font-weight:700;color:var(--on-accent);background:var(--accent);cursor:pointer}
.btn:hover{filter:brightness(1.1)}
[type=submit]{width:100%;height:48px;margin:12px 0 0;font-size:16px}
[aria-busy=true]::after{content:"";width:14px;height:14px;border:2px solid;border-right-color:transparent;border-radius:50%;animation:spin .7s linear infinite}
.trg-decline{display:block;margin:2px auto 0;padding:8px 12px;border:0;background:none;font:inherit;font-size:14px;color:inherit;opacity:.8;text-decoration:underline;cursor:pointer}
.codebox,.row{display:flex;flex-wrap:wrap;gap:8px;align-items:center;justify-content:space-between}
.codebox{margin:14px 0 12px;padding:8px 8px 8px 14px;border:2px dashed var(--accent);border-radius:var(--r2)}
.trg-code,.trg-reminder-code{font:700 22px/1.2 ui-monospace,Menlo,Consolas,monospace;letter-spacing:.04em;white-space:nowrap;user-select:all}
.row .btn,.codebox .btn{height:38px;padding:0 14px;font-size:14px}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.trg-reminder{position:fixed;left:12px;bottom:12px;z-index:var(--z);max-width:calc(100% - 24px);padding:10px 48px 10px 14px;border:2px solid var(--accent);border-radius:var(--r2);font-size:13px}
.trg-reminder p{margin:0 0 4px}
.trg-countdown{margin-left:8px;opacity:.8;font-variant-numeric:tabular-nums}
.trg-reminder-code{font-size:18px}
.trg-reminder .x{top:4px;right:4px;width:36px;height:36px;background:none;color:inherit}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.x:focus-visible{outline-color:currentColor;outline-offset:-4px}
[tabindex="-1"]:focus-visible,[type=email]:focus-visible{outline:0}
[data-format=slidein],[data-format^=bar]{position:fixed;z-index:var(--z)}
[data-format=slidein]{right:16px;bottom:16px;max-width:380px;max-height:calc(100% - 32px)}
[data-format^=bar]{left:0;right:0;max-width:none;border-radius:0;flex-direction:row}
[data-format=bar-top]{top:0}
[data-format=bar-bottom]{bottom:0}
[data-format^=bar] .hero{display:flex;align-items:center;justify-content:center;padding:8px 24px;font-size:32px}
[data-format^=bar] .body{flex:1;display:grid;grid-template-columns:minmax(0,1fr) minmax(0,520px);gap:0 24px;align-items:center;padding:12px 64px 12px 24px}
[data-format^=bar] form,[data-format^=bar] .codebox{grid-area:1/2/4;margin:0}
[data-format^=bar] .items{display:none}
[data-format^=bar] .sub{margin:0}
[data-format^=bar] form{display:flex;flex-wrap:wrap;gap:8px;align-items:center}
[data-format^=bar] form>*{margin:0}
[data-format^=bar] label,[data-format^=bar] .trg-error{flex-basis:100%;order:1}
[data-format^=bar] label:first-child{order:0}
[data-format^=bar] [type=email]{flex:1 1 160px}
[data-format^=bar] [type=submit]{width:auto;padding:0 20px}
[data-format^=bar] .x{top:50%;margin-top:-20px;background:none;color:inherit}
@keyframes spin{to{transform:rotate(1turn)}}
@keyframes fade{from{opacity:0}}
@keyframes pop{from{opacity:0;transform:translateY(16px)}}
@media (max-height:700px){
.hero{padding:8px 52px;font-size:30px}
.body{padding-top:14px}
.sub{margin-bottom:10px;font-size:14px}}
@media (max-width:999.98px){
[data-format^=bar]{flex-direction:column}
[data-format^=bar] .hero{padding:6px 52px;font-size:24px}
[data-format^=bar] .body{display:block;padding:12px 16px 8px}
[data-format^=bar] #trg-sub{display:none}
[data-format^=bar] form{margin-top:8px}
[data-format^=bar] .x{top:0;margin:0;color:var(--on-accent)}}
@media (max-width:599.98px){
.backdrop{align-items:flex-end;padding:24px 0 0}
[data-format=modal],[data-format=slidein]{max-height:92%;border-radius:var(--r) var(--r) 0 0;padding-bottom:env(safe-area-inset-bottom)}
[data-format=slidein]{left:0;right:0;bottom:0;max-width:none}
.body{padding:14px 18px 10px}}
@media (prefers-reduced-motion:no-preference){
.backdrop{animation:fade .2s}
.dialog,.trg-reminder{animation:pop .3s cubic-bezier(.2,.8,.3,1.1)}}`;

    const text = (key, val) => str(texts[key]).replace(/\{(discount|code|time)\}/g,
        (m, k) => str(k === 'discount' ? offer.discount : val));

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
                return new Intl.NumberFormat(lang, { style: 'currency', currency: c }).format(p);
            }
        } catch (e) { /* an unknown currency: as given */ }

        return p && c ? p + ' ' + c : p;
    };

    /* black or white on the shop's accent, whichever reads at 4.5:1 */
    const onAccent = (hex) => {
        const [r, g, b] = [1, 3, 5].map((i) => {
            const c = parseInt(hex.substr(i, 2), 16) / 255;
            return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
        });

        return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.1833 ? '#000' : '#fff';
    };

    /* the host of everything shown: the dialog, the reminder */
    const shadow = () => {
        const accent = str(offer.accent);

        if (!root) {
            /* lang: the texts' language, whatever the page's */
            host = el('div', { id: 'trg-widget-host', lang, 'data-variant': str(offer.variant) || null });
            root = host.attachShadow({ mode: 'open' });

            if (/^#[0-9a-f]{6}$/i.test(accent)) {
                host.style.setProperty('--trg-accent', accent);
                host.style.setProperty('--trg-accent-text', onAccent(accent));
            }

            /* a constructed sheet is not inline CSS: no CSP style-src needed */
            try {
                const sheet = new CSSStyleSheet();
                sheet.replaceSync(CSS);
                root.adoptedStyleSheets = [sheet];
            } catch (e) {
                root.append(el('style', { nonce: script.nonce, text: CSS }));
            }

            doc.body.append(host);
        }

        return root;
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

    /* at most three: the cart, then what was viewed; they scroll inside
     * when the viewport is short, the form stays in view */
    const items = () => {
        const list = (Array.isArray(offer.items) ? offer.items : [])
            .filter((it) => isObject(it) && (str(it.name) || str(it.sku))).slice(0, 3);

        return list.length > 0 && el('div', { class: 'items' }, ...[true, false].map((cart) => {
            const some = list.filter((it) => (it.in_cart === true) === cart), id = cart ? 'trg-gc' : 'trg-gv';

            return some.length > 0 && el('div', { class: 'group' },
                el('p', { id, text: text(cart ? 'cart_title' : 'viewed_title') }),
                el('ul', { 'aria-labelledby': id }, ...some.map(item)));
        }));
    };

    /* the code, its copy button and the announcement of a copy */
    const copier = (code, cls) => {
        const codeEl = el('span', { class: cls, text: code });
        const copy = el('button', { type: 'button', class: 'btn', text: text('copy') });
        const status = el('span', { class: 'sr', role: 'status' });

        on(copy, 'click', () => {
            const copied = safe(() => {
                copy.textContent = status.textContent = text('copied');
                setTimeout(() => { copy.textContent = text('copy'); status.textContent = ''; }, 2500);
            });

            getSelection().selectAllChildren(codeEl);
            new Promise((resolve) => resolve(navigator.clipboard.writeText(code)))
                .catch(() => doc.execCommand('copy') || Promise.reject())
                .then(copied, () => {});
        });

        return [codeEl, copy, status];
    };

    /* d days hh:mm:ss */
    const countdown = (s) => {
        const d = Math.floor(s / 86400), hms = new Date(s * 1000).toISOString().substr(11, 8);
        let days = d + 'd';

        try {
            days = new Intl.NumberFormat(lang, { style: 'unit', unit: 'day', unitDisplay: 'long' }).format(d);
        } catch (e) { /* as is */ }

        return (d ? days + ' ' : '') + hms;
    };

    /* the code kept in view on every page until used, expired or dismissed */
    const remind = (code, expires) => {
        let hidden = false;

        try {
            hidden = !preview && localStorage.getItem(HIDDEN) === code;
        } catch (e) { /* no storage: shown */ }

        if (hidden || !doc.body) {
            return;
        }

        const [codeEl, copy, status] = copier(code, 'trg-reminder-code');
        const count = el('span', { class: 'trg-countdown', role: 'timer' });
        const x = el('button', { type: 'button', class: 'trg-reminder-close x', 'aria-label': text('close') });
        const box = el('aside', { class: 'trg-reminder', 'aria-labelledby': 'trg-rtitle' },
            el('p', {}, el('strong', { id: 'trg-rtitle', text: text('reminder') }), count),
            el('div', { class: 'row' }, codeEl, copy), status, x);
        let timer = 0;

        const gone = () => {
            clearInterval(timer);
            box.remove();
        };

        const tick = safe(() => {
            const s = expires - now() / 1000;
            s > 0 ? (count.textContent = text('expires', countdown(s))) : gone();
        });

        on(x, 'click', () => {
            gone();
            localStorage.setItem(HIDDEN, code);
        });

        timer = setInterval(tick, 1000);
        shadow().append(box);
        tick();
    };

    /* the shop can apply the code itself */
    const learn = (code, expires) => {
        const variant = str(offer.variant) || null;

        if (preview) {
            return;
        }

        doc.dispatchEvent(new CustomEvent('trigger:code', { detail: { code, expires, variant } }));

        if (Array.isArray(window.dataLayer)) {
            window.dataLayer.push({ event: 'trigger_code', trigger_code: code, trigger_code_expires: expires,
                                   trigger_variant: variant });
        }
    };

    const build = () => {
        const v = {}, discount = str(offer.discount);
        const consent = offer.consent === true ? text('consent') : str(offer.consent);
        const format = FORMATS.includes(offer.format) ? offer.format : 'modal';

        v.modal = format === 'modal';
        v.email = el('input', { id: 'trg-email', type: 'email', autocomplete: 'email', maxlength: 254, required: '',
                                placeholder: text('email_placeholder') || null, 'aria-describedby': 'trg-error' });
        v.consent = consent && el('input', { type: 'checkbox', required: '', 'aria-describedby': 'trg-error' });
        v.error = el('p', { class: 'trg-error', id: 'trg-error', 'aria-live': 'assertive' });
        v.submit = el('button', { type: 'submit', class: 'btn', text: text('submit') });
        v.decline = el('button', { type: 'button', class: 'trg-decline', text: text('decline') });
        /* a drawn cross: no visible text that could differ from the name */
        v.close = el('button', { type: 'button', class: 'trg-close x', 'aria-label': text('close') });

        v.form = el('form', { novalidate: '' },
            el('label', { for: 'trg-email', text: text('email_label') }),
            v.email,
            consent && el('label', { class: 'consent' }, v.consent,
                el('span', { text: consent + ' ' }, el('span', { class: 'sub', text: text('consent_required') }))),
            v.error, v.submit, v.decline);

        v.view = el('div', { class: 'body' },
            el('h2', { id: 'trg-title', text: text('title') }),
            el('p', { class: 'sub', id: 'trg-sub', text: text('subtitle') }),
            items(),
            v.form);

        v.dialog = el('div', { class: 'dialog', role: 'dialog', 'aria-modal': v.modal && 'true', 'data-format': format,
                               tabindex: '-1', 'aria-labelledby': 'trg-title', 'aria-describedby': 'trg-sub' },
            /* the amount is decoration when the title says it */
            el('div', { class: 'hero', 'aria-hidden': text('title').includes(discount) && 'true', text: discount }),
            v.close,
            v.view);

        v.top = v.modal ? el('div', { class: 'backdrop' }, v.dialog) : v.dialog;

        on(v.close, 'click', () => close('close'));
        on(v.decline, 'click', () => close('decline'));
        on(v.form, 'submit', (e) => {
            e.preventDefault();
            subscribe();
        });
        on(v.form, 'input', () => setError(''));

        /* a click on the backdrop, not a text selection that ends there */
        on(v.top, 'mousedown', (e) => { v.down = e.target; });
        on(v.top, 'click', (e) => e.target === v.top && v.down === e.target && v.modal && close('close'));

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

        if (preview) {
            return done('', { code: 'PREVIEW', expires_at: Math.floor(now() / 1000) + 7 * 86400 });
        }

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
        const code = str(data.code), expires = Number(data.expires_at) || 0;
        const title = el('h2', { id: 'trg-stitle', tabindex: '-1', text: text('success_title') });

        v.done = true;
        v.view.replaceWith(el('div', { class: 'body' },
            title,
            /* no code: double opt-in, the code comes by email */
            code && el('div', { class: 'codebox' }, ...copier(code, 'trg-code')),
            /* the email promise only where a letter will really go */
            el('p', { class: 'note', text: code ? text(offer.mail ? 'success_text' : 'success_code', code)
                                                : text('success_confirm') })));
        v.dialog.setAttribute('aria-labelledby', 'trg-stitle');
        v.dialog.removeAttribute('aria-describedby');
        title.focus();

        if (PROMO_RE.test(code)) {
            learn(code, expires);
            /* the reminder takes over once the dialog is closed */
            v.code = offer.reminder !== false && expires * 1000 > now() && code;
            v.expires = expires;
        }
    };

    const focusables = () => [...ui.dialog.querySelectorAll('a[href],button,input')];

    /* Esc closes; in the modal, Tab and Shift+Tab go round inside */
    const onKey = (e) => {
        const list = focusables(), i = list.indexOf(root.activeElement), step = e.shiftKey ? -1 : 1;

        if (!ui.modal && e.target !== host) {
            /* the page's own keys, beside a box that is not modal */
        } else if (e.key === 'Escape' && !e.isComposing) {
            e.preventDefault();
            close('close');
        } else if (e.key === 'Tab' && ui.modal) {
            e.preventDefault();
            list[(list.length + (i < 0 ? (step > 0 ? -1 : 0) : i) + step) % list.length].focus();
        }
    };

    const open = () => {
        const html = doc.documentElement, v = !shown && offer && (offer.token || preview) && doc.body && build();

        if (!v) {
            return false;
        }

        shown = true;
        ui = v;
        v.back = doc.activeElement;
        shadow().append(v.top);

        if (v.modal) {
            v.overflow = html.style.overflow;
            html.style.overflow = 'hidden';
            /* the page behind is out of reach, for screen readers too */
            v.inert = [...doc.body.children].filter((n) => n !== host && !n.inert);
            v.inert.forEach((n) => { n.inert = true; });
            /* focus that got out anyway comes back */
            doc.addEventListener('focusin', v.onFocus = safe((e) => e.target !== host && focusables()[0].focus()), true);
        }

        doc.addEventListener('keydown', v.onKey = safe(onKey), true);

        /* on touch screens a focused field would pop the keyboard up */
        (matchMedia('(pointer: coarse)').matches ? v.dialog : v.email).focus();

        report('events', { type: 'offer_shown' });

        /* the back button's entry has done its work: one press leaves */
        if (trap === 1) {
            trap = 3;
            history.back();
        }

        return true;
    };

    /* path: "close" (Esc, the close button, the backdrop) or "decline" */
    const close = (path) => {
        const v = ui;

        ui = null;
        doc.removeEventListener('keydown', v.onKey, true);
        doc.removeEventListener('focusin', v.onFocus, true);
        v.top.remove();

        if (v.modal) {
            doc.documentElement.style.overflow = v.overflow;
            v.inert.forEach((n) => { n.inert = false; });
        }

        if (!v.done) {
            report(path, { token: offer.token });
        }

        if (v.back && v.back.focus) {
            v.back.focus();
        }

        if (v.code) {
            remind(v.code, v.expires);
        } else if (v.byBack && !v.done) {
            /* the visitor was leaving with the back button: one press */
            history.back();
        }
    };


    /* -------------------------------------------------------- exit intent */

    let trap = 0;       /* "back": 1 = our entry is on top, 2 = used, 3 = going */
    let armed = false;  /* the back button may open the offer */

    const isTrap = (state) => isObject(state) && state.trgWidget === 1;

    /* an automatic signal: once, never early, not while leaving or hidden */
    const trigger = () => {
        const t = now();
        return t >= readyAt && t >= quietUntil && !doc.hidden && open();
    };

    /* our entry, left on top by an earlier view of this page, or going */
    const backButton = () => {
        if (isTrap(history.state)) {
            trap = 1;
        }

        on(window, 'popstate', () => {
            if (trap === 3) {
                trap = 2;
            } else if (trap === 1 && !isTrap(history.state)) {
                trap = 2;
                if (armed && trigger()) {
                    ui.byBack = true;
                } else {
                    /* not now, or not here: back as asked, one press */
                    history.back();
                }
            }
        });
    };

    const signals = () => {
        const s = offer.signals || { top: true }, opts = { capture: true, passive: true };
        const touch = matchMedia('(pointer: coarse)').matches;
        /* idle interrupts reading on a desktop: its own setting, off by default */
        const idle = (touch ? s.idle : s.idle_desktop) * 1000 || 0;
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

        /* phones only, where back is how one leaves: one entry, pushed
         * after a gesture (browsers skip entries pushed without one) once
         * the offer may open, never again */
        if (s.back && touch) {
            armed = true;
            on(window, 'pointerdown keydown touchend click', () => {
                if (!trap && !shown && now() >= readyAt) {
                    trap = 1;
                    history.pushState(Object.assign({}, isObject(history.state) && history.state,
                                                    { trgWidget: 1 }), '');
                }
            }, opts);
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
            lang = TEXTS[offer.lang] ? offer.lang : 'en';
            KEYS.forEach((k, i) => { texts[k] = TEXTS[lang][i]; });

            for (const [k, v] of Object.entries(offer.texts || {})) {
                if (typeof v === 'string') {
                    texts[k] = v;
                }
            }

            readyAt += offer.delay * 1000 || 0;
            preview = offer.preview === true;
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

        backButton();

        if (!offer) {
            return;
        }

        const r = offer.reminder;

        /* a code from an earlier page, still unused */
        if (isObject(r) && PROMO_RE.test(r.code) && r.expires * 1000 > now()) {
            learn(r.code, r.expires);
            remind(r.code, r.expires);
        }

        if (preview) {
            open();
        } else if (offer.token) {
            signals();
        }
    };

    try {
        window.TriggerWidget = Object.freeze({
            version: '1.1.0',
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
