// The bundle the test page loads (scripts/ofrep-web-test.sh builds it with
// esbuild): the OpenFeature web SDK and the OFREP web provider, as a web
// developer's bundler would include them, exposed to the page's script.
import { OpenFeature, ProviderEvents } from '@openfeature/web-sdk';
import { OFREPWebProvider } from '@openfeature/ofrep-web-provider';

window.CountersignTest = { OpenFeature, ProviderEvents, OFREPWebProvider };
