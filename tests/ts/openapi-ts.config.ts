// The generator settings of the FastAPI template's frontend: axios client, one class per tag
// ("UsersService"), methods named from operation ids without their tag ("readUsers").
import { defineConfig } from "@hey-api/openapi-ts"

export default defineConfig({
  input: "./client/openapi.json",
  output: "./client/src",
  plugins: [
    "legacy/axios",
    {
      name: "@hey-api/sdk",
      asClass: true,
      operationId: true,
      classNameBuilder: "{{name}}Service",
      methodNameBuilder: (operation) => {
        // @ts-ignore - the legacy operation carries name and service
        let name: string = operation.name
        // @ts-ignore
        const service: string = operation.service
        if (service && name.toLowerCase().startsWith(service.toLowerCase())) {
          name = name.slice(service.length)
        }
        return name.charAt(0).toLowerCase() + name.slice(1)
      },
    },
    { name: "@hey-api/schemas", type: "json" },
  ],
})
