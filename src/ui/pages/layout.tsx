import type { ComponentChildren } from 'preact';

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;background:#f4f5f7;color:#1d1f23}
main{max-width:26rem;margin:4rem auto;padding:2rem;background:#fff;border-radius:12px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin:0 0 .5rem}p{margin:.5rem 0 1rem;color:#4a4f57}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=email],input[type=text],input[type=password]{width:100%;padding:.6rem .75rem;font:inherit;border:1px solid #c4c8cf;border-radius:8px}
input:focus{outline:2px solid #3b5bdb;outline-offset:1px}
button{margin-top:1.25rem;width:100%;padding:.7rem;font:inherit;font-weight:600;color:#fff;background:#1d1f23;border:0;border-radius:8px;cursor:pointer}
.error{color:#b42318;background:#fef3f2;border:1px solid #fecdca;padding:.5rem .75rem;border-radius:8px}
.notice{color:#05603a;background:#ecfdf3;border:1px solid #abefc6;padding:.5rem .75rem;border-radius:8px}
.aside{margin-top:1.25rem;font-size:.9rem;text-align:center}a{color:#3b5bdb}
.row{display:flex;gap:.75rem}.row>div{flex:1}
button.secondary{color:#1d1f23;background:#fff;border:1px solid #c4c8cf}
form.inline{display:inline}button.link{display:inline;width:auto;margin:0;padding:0;background:none;color:#3b5bdb;font-weight:400;text-decoration:underline;cursor:pointer}
`;

export function Layout(props: { title: string; lang?: string; children: ComponentChildren }) {
  return (
    <html lang={props.lang ?? 'en'}>
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        <title>{props.title}</title>
        <style dangerouslySetInnerHTML={{ __html: STYLE }} />
      </head>
      <body>
        <main>{props.children}</main>
      </body>
    </html>
  );
}

export function ErrorMessage(props: { message: string | undefined }) {
  return props.message ? (
    <p class="error" role="alert" id="form-error">
      {props.message}
    </p>
  ) : null;
}
