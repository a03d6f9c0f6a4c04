import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/**
 * The two calls of AWS Lambda's API that the on-call CLI makes, for the functions of the local
 * pipeline (`npm start -- --keep`): GetFunctionConfiguration (the settings the function runs with)
 * and Invoke (`payouts scan`). The CLI's real Lambda client talks to it as it talks to AWS.
 */
export interface LocalFunction {
  environment: Record<string, string>;
  invoke?(payload: unknown): Promise<unknown>;
}

export interface LocalLambdaApi {
  readonly endpoint: string;
  close(): Promise<void>;
}

const PATH = /^\/2015-03-31\/functions\/([^/]+)\/(configuration|invocations)$/;

export async function startLocalLambdaApi(
  functions: Record<string, LocalFunction>,
): Promise<LocalLambdaApi> {
  const server: Server = createServer((request, response) => {
    answer(functions, request, response).catch((error: unknown) => {
      send(response, 500, { message: error instanceof Error ? error.message : String(error) });
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function answer(
  functions: Record<string, LocalFunction>,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const [, name = '', call] = PATH.exec(new URL(request.url ?? '/', 'http://local').pathname) ?? [];
  const fn = functions[decodeURIComponent(name)];
  if (!fn) {
    send(
      response,
      404,
      { Type: 'User', message: `Function not found: ${name}` },
      {
        'x-amzn-errortype': 'ResourceNotFoundException',
      },
    );
    return;
  }
  if (call === 'configuration' && request.method === 'GET') {
    send(response, 200, { FunctionName: name, Environment: { Variables: fn.environment } });
    return;
  }
  if (call === 'invocations' && request.method === 'POST' && fn.invoke) {
    const body = await readBody(request);
    try {
      send(response, 200, (await fn.invoke(body ? JSON.parse(body) : {})) ?? null);
    } catch (error) {
      // As Lambda reports a function that threw: 200, with the error as the payload.
      const { name: errorType = 'Error', message = String(error) } = error as Error;
      send(
        response,
        200,
        { errorType, errorMessage: message },
        {
          'x-amz-function-error': 'Unhandled',
        },
      );
    }
    return;
  }
  send(
    response,
    400,
    { Type: 'User', message: `Unsupported call ${request.method} ${call}` },
    {
      'x-amzn-errortype': 'InvalidRequestContentException',
    },
  );
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}
